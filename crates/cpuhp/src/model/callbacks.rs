//! State callbacks, typed by section.
//!
//! What a callback may do depends on where its state sits (ARCHITECTURE.md, "The state machine"), and here that is
//! in its type: a PREPARE teardown and both STARTING callbacks return `()` — they cannot fail —
//! while the others return `Result<(), Errno>`. One builder per section ([`Prepare`],
//! [`Starting`], [`Online`]) and per multi-instance section ([`PrepareMulti`], [`StartingMulti`],
//! [`OnlineMulti`]) collects them; `setup_state` refuses a builder whose section does not match the
//! slot.
//!
//! Every callback also carries a *symbol*: the function name Linux's `cpuhp_enter` tracepoint
//! prints (`a_startup [hporacle]`). Unnamed callbacks get `<state name>:startup` /
//! `<state name>:teardown`.

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::sync::Arc;
use core::any::{Any, TypeId};
use core::fmt;

use crate::{CpuId, Errno, Section};

pub(crate) type Fallible = Box<dyn Fn(CpuId) -> Result<(), Errno> + Send + Sync>;
pub(crate) type Infallible = Box<dyn Fn(CpuId) + Send + Sync>;
pub(crate) type MultiFallible = Box<dyn Fn(CpuId, &dyn Any) -> Result<(), Errno> + Send + Sync>;
pub(crate) type MultiInfallible = Box<dyn Fn(CpuId, &dyn Any) + Send + Sync>;

/// What runs for one direction of one state.
pub(crate) enum Body {
    Fallible(Fallible),
    Infallible(Infallible),
    MultiFallible(MultiFallible),
    MultiInfallible(MultiInfallible),
    /// One of the core's own steps, or a preset's stand-in for a kernel function.
    Builtin(Builtin),
}

/// The core's own callbacks. `Noop` stands in for a kernel function a preset names but the
/// simulator does not need (it succeeds and does nothing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Builtin {
    Noop,
    /// `bringup_cpu`: boots the CPU (STARTING callbacks run on it), then kicks its hotplug thread.
    BringupCpu,
    /// `finish_cpu`: the teardown of `bringup_cpu`; nothing to do in the simulator.
    FinishCpu,
    /// `takedown_cpu`: stops the CPU (DYING callbacks run on it), waits for it to die.
    TakedownCpu,
    /// `sched_cpu_activate`: marks the CPU active.
    Activate,
    /// `sched_cpu_deactivate`: marks the CPU inactive.
    Deactivate,
    /// `cpuhp_kick_ap_alive` (split startup, Linux 6.5): starts the CPU booting, without
    /// waiting for it.
    KickAp,
    /// A bridge state of the legacy CPU-notifier API.
    Bridge(crate::legacy::Bridge),
    /// A preset's stand-in for a kernel function that checks it runs on the CPU it is for
    /// ([`OwnCpu`](crate::preset::OwnCpu)); on that CPU it succeeds and does nothing.
    OwnCpu(crate::preset::OwnCpu),
}

/// One callback: its body and the symbol tracing prints for it. Shared (an `Arc` around both,
/// not around each closure: a sized `Arc` costs the walk no more than the box did), so that a
/// fork of the machine (`Hotplug::fork`) runs the same callbacks.
#[derive(Clone)]
pub(crate) struct Callback(Arc<CallbackData>);

pub(crate) struct CallbackData {
    pub(crate) symbol: Cow<'static, str>,
    pub(crate) body: Body,
}

impl core::ops::Deref for Callback {
    type Target = CallbackData;

    #[inline(always)]
    fn deref(&self) -> &CallbackData {
        &self.0
    }
}

impl Callback {
    pub(crate) fn new(symbol: Cow<'static, str>, body: Body) -> Callback {
        Callback(Arc::new(CallbackData { symbol, body }))
    }

    pub(crate) fn builtin(symbol: &'static str, b: Builtin) -> Callback {
        Callback::new(Cow::Borrowed(symbol), Body::Builtin(b))
    }
}

impl fmt::Debug for Callback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.symbol)
    }
}

/// A state's callbacks, erased: what `setup_state` takes. Built from a section builder.
///
/// # Examples
///
/// ```
/// use cpuhp::{Callbacks, Online, Section};
///
/// let cbs: Callbacks = Online::new().startup(|_cpu| Ok(())).into();
/// assert_eq!(cbs.section(), Section::Online);
/// assert!(!cbs.is_multi());
/// ```
pub struct Callbacks {
    pub(crate) section: Section,
    pub(crate) startup: Option<Callback>,
    pub(crate) teardown: Option<Callback>,
    /// For a multi-instance state: the instance type its callbacks expect.
    pub(crate) instance_type: Option<(TypeId, &'static str)>,
}

impl Callbacks {
    /// The section these callbacks are typed for.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{Callbacks, Prepare, Section, StartingMulti};
    ///
    /// assert_eq!(Callbacks::from(Prepare::new()).section(), Section::Prepare);
    /// assert_eq!(Callbacks::from(StartingMulti::<u32>::new()).section(), Section::Starting);
    /// ```
    pub fn section(&self) -> Section {
        self.section
    }

    /// Whether these are multi-instance callbacks.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{Callbacks, Online, OnlineMulti};
    ///
    /// assert!(Callbacks::from(OnlineMulti::<u32>::new()).is_multi());
    /// assert!(!Callbacks::from(Online::new()).is_multi());
    /// ```
    pub fn is_multi(&self) -> bool {
        self.instance_type.is_some()
    }

    /// Gives unnamed callbacks their default symbols.
    pub(crate) fn name_defaults(&mut self, state_name: &str) {
        for (cb, dir) in [
            (&mut self.startup, "startup"),
            (&mut self.teardown, "teardown"),
        ] {
            // A builder's callbacks are its own (not shared yet): `get_mut` gives them.
            if let Some(cb) = cb.as_mut().and_then(|cb| Arc::get_mut(&mut cb.0)) {
                if cb.symbol.is_empty() {
                    cb.symbol = Cow::Owned(alloc::format!("{state_name}:{dir}"));
                }
            }
        }
    }
}

impl fmt::Debug for Callbacks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callbacks")
            .field("section", &self.section)
            .field("startup", &self.startup)
            .field("teardown", &self.teardown)
            .field("instance_type", &self.instance_type.map(|t| t.1))
            .finish()
    }
}

fn named(symbol: impl Into<Cow<'static, str>>, body: Body) -> Option<Callback> {
    Some(Callback::new(symbol.into(), body))
}

macro_rules! section_builder {
    (
        $(#[$doc:meta])*
        $name:ident, $section:ident,
        startup: |$scpu:ident| $sret:ty => $sbody:ident,
        teardown: |$tcpu:ident| $tret:ty => $tbody:ident,
    ) => {
        $(#[$doc])*
        #[derive(Default)]
        pub struct $name {
            startup: Option<Callback>,
            teardown: Option<Callback>,
        }

        // `$tret` may be `()`: the infallible signature, spelled out on purpose.
        #[allow(clippy::unused_unit)]
        impl $name {
            /// No callbacks yet (a state may have neither).
            ///
            /// # Examples
            ///
            /// ```
            /// use cpuhp::{preset, Hotplug, Inline, Online, Prepare, Slot, Starting, StateId, Topology};
            ///
            /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
            /// // Without callbacks a state only takes its place in the order.
            /// let p = hp.setup_state(Slot::PrepareDyn, "p", Prepare::new())?;
            /// let s = hp.setup_state(Slot::Fixed(StateId(40)), "s", Starting::new())?;
            /// let o = hp.setup_state(Slot::OnlineDyn, "o", Online::new())?;
            /// assert_eq!((p.get(), s.get(), o.get()), (10, 40, 70));
            /// assert!(!hp.has_callback(o, true) && !hp.has_callback(o, false));
            /// # Ok::<(), cpuhp::Error>(())
            /// ```
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets the startup callback.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
            /// use cpuhp::{preset, Hotplug, Inline, Online, Prepare, Slot, Starting, StateId, Topology};
            ///
            /// static RAN: AtomicU32 = AtomicU32::new(0);
            /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
            /// // PREPARE and ONLINE startups return a `Result`; STARTING startups cannot fail.
            /// hp.setup_state(Slot::PrepareDyn, "p", Prepare::new().startup(|_| { RAN.fetch_add(1, Relaxed); Ok(()) }))?;
            /// hp.setup_state(Slot::Fixed(StateId(40)), "s", Starting::new().startup(|_| { RAN.fetch_add(1, Relaxed); }))?;
            /// hp.setup_state(Slot::OnlineDyn, "o", Online::new().startup(|_| { RAN.fetch_add(1, Relaxed); Ok(()) }))?;
            /// assert_eq!(RAN.load(Relaxed), 6); // each ran for both online CPUs
            /// # Ok::<(), cpuhp::Error>(())
            /// ```
            pub fn startup(self, f: impl Fn(CpuId) -> $sret + Send + Sync + 'static) -> Self {
                self.startup_named("", f)
            }

            /// Sets the startup callback and the symbol tracing prints for it.
            ///
            /// # Examples
            ///
            /// ```
            /// use cpuhp::{Online, Prepare, Starting};
            ///
            /// // Trace events name the callback by this symbol (unnamed: `<state name>:startup`).
            /// let p = Prepare::new().startup_named("alloc_buffers", |_| Ok(()));
            /// let s = Starting::new().startup_named("enable_pmu", |_| {});
            /// let o = Online::new().startup_named("wq_online", |_| Ok(()));
            /// assert_eq!(format!("{p:?}"), "Prepare { startup: Some(alloc_buffers), teardown: None }");
            /// assert_eq!(format!("{s:?}"), "Starting { startup: Some(enable_pmu), teardown: None }");
            /// assert_eq!(format!("{o:?}"), "Online { startup: Some(wq_online), teardown: None }");
            /// ```
            pub fn startup_named(
                mut self,
                symbol: impl Into<Cow<'static, str>>,
                f: impl Fn(CpuId) -> $sret + Send + Sync + 'static,
            ) -> Self {
                self.startup = named(symbol, Body::$sbody(Box::new(f)));
                self
            }

            /// Sets the teardown callback.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::Mutex;
            /// use cpuhp::{preset, CpuId, Hotplug, Inline, Online, Prepare, Slot, Starting, StateId, Topology};
            ///
            /// static LOG: Mutex<String> = Mutex::new(String::new());
            /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
            /// // Only ONLINE teardowns may fail; PREPARE and STARTING teardowns return `()`.
            /// hp.setup_state(Slot::PrepareDyn, "p", Prepare::new().teardown(|_| LOG.lock().unwrap().push('p')))?;
            /// hp.setup_state(Slot::Fixed(StateId(40)), "s", Starting::new().teardown(|_| LOG.lock().unwrap().push('s')))?;
            /// hp.setup_state(Slot::OnlineDyn, "o", Online::new().teardown(|_| { LOG.lock().unwrap().push('o'); Ok(()) }))?;
            /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
            /// assert_eq!(*LOG.lock().unwrap(), "osp"); // descending state order
            /// # Ok::<(), cpuhp::Error>(())
            /// ```
            pub fn teardown(self, f: impl Fn(CpuId) -> $tret + Send + Sync + 'static) -> Self {
                self.teardown_named("", f)
            }

            /// Sets the teardown callback and the symbol tracing prints for it.
            ///
            /// # Examples
            ///
            /// ```
            /// use cpuhp::{Online, Prepare, Starting};
            ///
            /// let p = Prepare::new().teardown_named("free_buffers", |_| {});
            /// let s = Starting::new().teardown_named("disable_pmu", |_| {});
            /// let o = Online::new().teardown_named("wq_offline", |_| Ok(()));
            /// assert_eq!(format!("{p:?}"), "Prepare { startup: None, teardown: Some(free_buffers) }");
            /// assert_eq!(format!("{s:?}"), "Starting { startup: None, teardown: Some(disable_pmu) }");
            /// assert_eq!(format!("{o:?}"), "Online { startup: None, teardown: Some(wq_offline) }");
            /// ```
            pub fn teardown_named(
                mut self,
                symbol: impl Into<Cow<'static, str>>,
                f: impl Fn(CpuId) -> $tret + Send + Sync + 'static,
            ) -> Self {
                self.teardown = named(symbol, Body::$tbody(Box::new(f)));
                self
            }
        }

        impl From<$name> for Callbacks {
            fn from(b: $name) -> Callbacks {
                Callbacks {
                    section: Section::$section,
                    startup: b.startup,
                    teardown: b.teardown,
                    instance_type: None,
                }
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("startup", &self.startup)
                    .field("teardown", &self.teardown)
                    .finish()
            }
        }
    };
}

macro_rules! multi_builder {
    (
        $(#[$doc:meta])*
        $name:ident, $section:ident,
        startup: $sret:ty => $sbody:ident $swrap:ident,
        teardown: $tret:ty => $tbody:ident $twrap:ident,
    ) => {
        $(#[$doc])*
        pub struct $name<T> {
            startup: Option<Callback>,
            teardown: Option<Callback>,
            _instance: core::marker::PhantomData<fn(&T)>,
        }

        impl<T: Any + Send + Sync> Default for $name<T> {
            fn default() -> Self {
                $name { startup: None, teardown: None, _instance: core::marker::PhantomData }
            }
        }

        #[allow(clippy::unused_unit)]
        impl<T: Any + Send + Sync> $name<T> {
            /// No callbacks yet.
            ///
            /// # Examples
            ///
            /// ```
            /// use cpuhp::{preset, ErrorKind, Hotplug, Inline, OnlineMulti, PrepareMulti, Slot, StartingMulti, StateId, Topology};
            ///
            /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
            /// let p = hp.setup_state(Slot::PrepareDyn, "p", PrepareMulti::<u32>::new())?;
            /// let s = hp.setup_state(Slot::Fixed(StateId(40)), "s", StartingMulti::<u32>::new())?;
            /// let o = hp.setup_state(Slot::OnlineDyn, "o", OnlineMulti::<u32>::new())?;
            /// for state in [p, s, o] { hp.add_instance(state, 7u32)?; }
            /// // Instances must have the type `T` the builder was made for.
            /// assert_eq!(hp.add_instance(o, "seven").unwrap_err().kind(), ErrorKind::WrongInstanceType);
            /// # Ok::<(), cpuhp::Error>(())
            /// ```
            pub fn new() -> Self {
                Self::default()
            }

            /// Sets the startup callback, called once per instance.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
            /// use cpuhp::{preset, Hotplug, Inline, OnlineMulti, PrepareMulti, Slot, StartingMulti, StateId, Topology};
            ///
            /// static SUM: AtomicU32 = AtomicU32::new(0);
            /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
            /// let p = hp.setup_state(Slot::PrepareDyn, "p", PrepareMulti::<u32>::new().startup(|_, n| { SUM.fetch_add(*n, Relaxed); Ok(()) }))?;
            /// let s = hp.setup_state(Slot::Fixed(StateId(40)), "s", StartingMulti::<u32>::new().startup(|_, n| { SUM.fetch_add(*n, Relaxed); }))?;
            /// let o = hp.setup_state(Slot::OnlineDyn, "o", OnlineMulti::<u32>::new().startup(|_, n| { SUM.fetch_add(*n, Relaxed); Ok(()) }))?;
            /// for (state, n) in [(p, 1u32), (s, 10), (o, 100)] { hp.add_instance(state, n)?; }
            /// assert_eq!(SUM.load(Relaxed), 222); // each instance's startup ran for both CPUs
            /// # Ok::<(), cpuhp::Error>(())
            /// ```
            pub fn startup(self, f: impl Fn(CpuId, &T) -> $sret + Send + Sync + 'static) -> Self {
                self.startup_named("", f)
            }

            /// Sets the startup callback and its trace symbol.
            ///
            /// # Examples
            ///
            /// ```
            /// use cpuhp::{OnlineMulti, PrepareMulti, StartingMulti};
            ///
            /// let p = PrepareMulti::<u32>::new().startup_named("queue_alloc", |_, _| Ok(()));
            /// let s = StartingMulti::<u32>::new().startup_named("timer_starting", |_, _| {});
            /// let o = OnlineMulti::<u32>::new().startup_named("nic_online", |_, _| Ok(()));
            /// assert_eq!(format!("{p:?}"), "PrepareMulti { startup: Some(queue_alloc), teardown: None }");
            /// assert_eq!(format!("{s:?}"), "StartingMulti { startup: Some(timer_starting), teardown: None }");
            /// assert_eq!(format!("{o:?}"), "OnlineMulti { startup: Some(nic_online), teardown: None }");
            /// ```
            pub fn startup_named(
                mut self,
                symbol: impl Into<Cow<'static, str>>,
                f: impl Fn(CpuId, &T) -> $sret + Send + Sync + 'static,
            ) -> Self {
                self.startup = named(symbol, Body::$sbody($swrap(f)));
                self
            }

            /// Sets the teardown callback, called once per instance.
            ///
            /// # Examples
            ///
            /// ```
            /// use std::sync::Mutex;
            /// use cpuhp::{preset, CpuId, Hotplug, Inline, OnlineMulti, PrepareMulti, Slot, StartingMulti, StateId, Topology};
            ///
            /// static LOG: Mutex<String> = Mutex::new(String::new());
            /// let mut hp = Hotplug::new(&preset::DEMO, Topology::new(2), Inline)?;
            /// let p = hp.setup_state(Slot::PrepareDyn, "p", PrepareMulti::<char>::new().teardown(|_, c| LOG.lock().unwrap().push(*c)))?;
            /// let s = hp.setup_state(Slot::Fixed(StateId(40)), "s", StartingMulti::<char>::new().teardown(|_, c| LOG.lock().unwrap().push(*c)))?;
            /// let o = hp.setup_state(Slot::OnlineDyn, "o", OnlineMulti::<char>::new().teardown(|_, c| { LOG.lock().unwrap().push(*c); Ok(()) }))?;
            /// for (state, c) in [(p, 'p'), (s, 's'), (o, 'o')] { hp.add_instance(state, c)?; }
            /// hp.cpu_down(CpuId(1), StateId::OFFLINE)?;
            /// assert_eq!(*LOG.lock().unwrap(), "osp"); // descending state order
            /// # Ok::<(), cpuhp::Error>(())
            /// ```
            pub fn teardown(self, f: impl Fn(CpuId, &T) -> $tret + Send + Sync + 'static) -> Self {
                self.teardown_named("", f)
            }

            /// Sets the teardown callback and its trace symbol.
            ///
            /// # Examples
            ///
            /// ```
            /// use cpuhp::{OnlineMulti, PrepareMulti, StartingMulti};
            ///
            /// let p = PrepareMulti::<u32>::new().teardown_named("queue_free", |_, _| {});
            /// let s = StartingMulti::<u32>::new().teardown_named("timer_dying", |_, _| {});
            /// let o = OnlineMulti::<u32>::new().teardown_named("nic_offline", |_, _| Ok(()));
            /// assert_eq!(format!("{p:?}"), "PrepareMulti { startup: None, teardown: Some(queue_free) }");
            /// assert_eq!(format!("{s:?}"), "StartingMulti { startup: None, teardown: Some(timer_dying) }");
            /// assert_eq!(format!("{o:?}"), "OnlineMulti { startup: None, teardown: Some(nic_offline) }");
            /// ```
            pub fn teardown_named(
                mut self,
                symbol: impl Into<Cow<'static, str>>,
                f: impl Fn(CpuId, &T) -> $tret + Send + Sync + 'static,
            ) -> Self {
                self.teardown = named(symbol, Body::$tbody($twrap(f)));
                self
            }
        }

        impl<T: Any + Send + Sync> From<$name<T>> for Callbacks {
            fn from(b: $name<T>) -> Callbacks {
                Callbacks {
                    section: Section::$section,
                    startup: b.startup,
                    teardown: b.teardown,
                    instance_type: Some((TypeId::of::<T>(), core::any::type_name::<T>())),
                }
            }
        }

        impl<T> fmt::Debug for $name<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("startup", &self.startup)
                    .field("teardown", &self.teardown)
                    .finish()
            }
        }
    };
}

/// `add_instance` checks the instance's type against the state's, so the downcast cannot fail;
/// should it anyway, the callback reports `EINVAL` rather than panic.
fn wrap_fallible<T: Any>(
    f: impl Fn(CpuId, &T) -> Result<(), Errno> + Send + Sync + 'static,
) -> MultiFallible {
    Box::new(move |cpu, any: &dyn Any| match any.downcast_ref::<T>() {
        Some(t) => f(cpu, t),
        None => Err(Errno::EINVAL),
    })
}

fn wrap_infallible<T: Any>(f: impl Fn(CpuId, &T) + Send + Sync + 'static) -> MultiInfallible {
    Box::new(move |cpu, any: &dyn Any| {
        if let Some(t) = any.downcast_ref::<T>() {
            f(cpu, t);
        }
    })
}

section_builder! {
    /// Callbacks for a PREPARE-section state: run by the control CPU before the CPU boots
    /// (startup, may fail) and after it died (teardown, cannot fail).
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{CpuId, Errno, Prepare};
    ///
    /// let cbs = Prepare::new()
    ///     .startup(|cpu: CpuId| if cpu.0 == 7 { Err(Errno::ENOMEM) } else { Ok(()) })
    ///     .teardown(|_cpu| { /* free per-CPU memory: cannot fail */ });
    /// # let _ = cbs;
    /// ```
    Prepare, Prepare,
    startup: |cpu| Result<(), Errno> => Fallible,
    teardown: |cpu| () => Infallible,
}

section_builder! {
    /// Callbacks for a STARTING-section state: run on the CPU itself with interrupts off, while
    /// it boots (startup) and while it dies (teardown). Neither can fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::Starting;
    ///
    /// let cbs = Starting::new().startup(|_cpu| {}).teardown(|_cpu| {});
    /// # let _ = cbs;
    /// ```
    Starting, Starting,
    startup: |cpu| () => Infallible,
    teardown: |cpu| () => Infallible,
}

section_builder! {
    /// Callbacks for an ONLINE-section state: run on the CPU's hotplug thread; both may fail.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::{Errno, Online};
    ///
    /// let cbs = Online::new()
    ///     .startup_named("wq_online", |_cpu| Ok(()))
    ///     .teardown(|_cpu| Err(Errno::EBUSY));
    /// # let _ = cbs;
    /// ```
    Online, Online,
    startup: |cpu| Result<(), Errno> => Fallible,
    teardown: |cpu| Result<(), Errno> => Fallible,
}

multi_builder! {
    /// Multi-instance callbacks for a PREPARE-section state; `T` is the instance type.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::PrepareMulti;
    ///
    /// struct Queue { id: u32 }
    /// let cbs = PrepareMulti::<Queue>::new().startup(|_cpu, q| { let _ = q.id; Ok(()) });
    /// # let _ = cbs;
    /// ```
    PrepareMulti, Prepare,
    startup: Result<(), Errno> => MultiFallible wrap_fallible,
    teardown: () => MultiInfallible wrap_infallible,
}

multi_builder! {
    /// Multi-instance callbacks for a STARTING-section state; `T` is the instance type.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::StartingMulti;
    ///
    /// let cbs = StartingMulti::<u32>::new().startup(|_cpu, _n| {});
    /// # let _ = cbs;
    /// ```
    StartingMulti, Starting,
    startup: () => MultiInfallible wrap_infallible,
    teardown: () => MultiInfallible wrap_infallible,
}

multi_builder! {
    /// Multi-instance callbacks for an ONLINE-section state; `T` is the instance type.
    ///
    /// # Examples
    ///
    /// ```
    /// use cpuhp::OnlineMulti;
    ///
    /// struct Nic { name: &'static str }
    /// let cbs = OnlineMulti::<Nic>::new()
    ///     .startup(|_cpu, nic| { let _ = nic.name; Ok(()) })
    ///     .teardown(|_cpu, _nic| Ok(()));
    /// # let _ = cbs;
    /// ```
    OnlineMulti, Online,
    startup: Result<(), Errno> => MultiFallible wrap_fallible,
    teardown: Result<(), Errno> => MultiFallible wrap_fallible,
}
