//! Prints the file our replay produces for a recording: `cargo run -p conformance --example emit -- FILE`.
fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let text = std::fs::read_to_string(path).expect("readable");
    let out = conformance::replay::replay(&text, &Default::default()).expect("parsable");
    print!("{out}");
}
