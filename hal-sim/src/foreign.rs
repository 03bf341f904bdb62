//! Models from outside: a [`PlantModel`] over a model library's C ABI (`perfuse-model-sdk`).
//!
//! Everything the library declares is read and checked once, when it is wrapped: magic and
//! ABI, strings (UTF-8), kinds (names of sensor and actuator kinds), indices (within the
//! outputs and inputs), parameters (finite ranges holding their defaults, unique names). A
//! descriptor that fails any check is refused with what is wrong where. Building checks every
//! parameter against its range before the library sees it. Stepping calls the library with no
//! allocation; the SDK catches a panicking model and makes its outputs NaN.

use std::collections::BTreeMap;
use std::ffi::c_void;
use std::ptr::NonNull;

use perfuse_hal::{ActuatorKind, SensorKind};
use perfuse_model_sdk::{
    ABI_MAJOR, ABI_MINOR, ERROR_CAPACITY, FaultCode, MAGIC, MAX_OUTPUTS, ModelDescriptor, Point,
    Str,
};
use serde::Deserialize;
use serde::de::IntoDeserializer;
use serde::de::value::{Error as ValueError, StrDeserializer};

use crate::model::{
    EventInfo, MAX_INPUTS, ModelInfo, ParamInfo, Plant, PlantFault, PlantModel, SiteInfo,
};

// The simulator's inputs are the SDK's.
const _: () = assert!(MAX_INPUTS == perfuse_model_sdk::MAX_INPUTS);

/// The fields every model ABI version starts with, read before anything else.
#[repr(C)]
struct Head {
    magic: u32,
    abi_major: u16,
    abi_minor: u16,
    size: u32,
}

/// A model library's model.
pub struct ForeignModel {
    descriptor: &'static ModelDescriptor,
    info: ModelInfo,
}

impl ForeignModel {
    /// Wraps the descriptor a model library exported; `origin` says where it was loaded from
    /// (shown by `perfuse models`). The error says what is wrong with the descriptor.
    ///
    /// # Safety
    /// `descriptor` is what the library's `perfuse_model_descriptor` returned, and the library
    /// stays loaded for the life of the process.
    pub unsafe fn new(
        descriptor: *const ModelDescriptor,
        origin: &str,
    ) -> Result<ForeignModel, String> {
        if descriptor.is_null() {
            return Err("the model descriptor function returned null".into());
        }
        // SAFETY: non-null and static in a library that is never unloaded; magic, ABI and size
        // are read first and sit at the same offsets in every ABI 1.x.
        let head = unsafe { &*descriptor.cast::<Head>() };
        if head.magic != MAGIC {
            return Err(format!(
                "bad magic {:#010x} (expected {MAGIC:#010x}): not a perfuse model library",
                head.magic
            ));
        }
        let (major, minor) = (head.abi_major, head.abi_minor);
        if major != ABI_MAJOR || minor > ABI_MINOR {
            return Err(format!(
                "model ABI {major}.{minor} is incompatible with the host's {ABI_MAJOR}.{ABI_MINOR} \
                 (the major must match, and the model's minor may not be newer)"
            ));
        }
        if (head.size as usize) < std::mem::size_of::<ModelDescriptor>() {
            return Err(format!(
                "its descriptor is {} bytes, smaller than ABI {major}.{minor}'s",
                head.size
            ));
        }
        // SAFETY: magic, ABI and size say it is a whole descriptor of this layout.
        let d: &'static ModelDescriptor = unsafe { &*descriptor };
        // SAFETY: the descriptor's pointers point at static data of the library.
        let info = unsafe { describe(d, origin) }?;
        Ok(ForeignModel {
            descriptor: d,
            info,
        })
    }
}

/// A string of the descriptor; the error names the field.
///
/// # Safety
/// `s` points into the library's static data.
unsafe fn text(s: &Str, field: &str) -> Result<String, String> {
    if s.len > 4096 {
        return Err(format!("{field} is {} bytes long", s.len));
    }
    // SAFETY: the caller's contract.
    unsafe { s.as_str() }
        .map(str::to_string)
        .ok_or_else(|| format!("{field} is not UTF-8"))
}

/// A slice of the descriptor; the error names the field when its length is absurd.
///
/// # Safety
/// `ptr` points at `n` items of the library's static data.
unsafe fn items<'a, T>(ptr: *const T, n: usize, field: &str) -> Result<&'a [T], String> {
    if n == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() || n > 1024 {
        return Err(format!("{field}: {n} items at a null or absurd address"));
    }
    // SAFETY: the caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, n) })
}

/// A kind named as the protocol names it (`"Pressure"`).
fn kind<'de, K: Deserialize<'de>>(name: &'de str) -> Option<K> {
    let de: StrDeserializer<'de, ValueError> = name.into_deserializer();
    K::deserialize(de).ok()
}

/// Reads and checks everything the descriptor declares.
///
/// # Safety
/// As [`ForeignModel::new`].
unsafe fn describe(d: &ModelDescriptor, origin: &str) -> Result<ModelInfo, String> {
    // SAFETY (whole function): every pointer and string points at the library's static data.
    let name = unsafe { text(&d.name, "name") }?;
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !valid_name {
        return Err(format!(
            "model name `{name}`: expected letters, digits, `-` and `_`"
        ));
    }
    if d.n_outputs == 0 || d.n_outputs > MAX_OUTPUTS {
        return Err(format!(
            "model `{name}`: {} outputs (1 to {MAX_OUTPUTS})",
            d.n_outputs
        ));
    }
    let mut errors = Vec::new();
    let mut sites = Vec::new();
    for (i, s) in unsafe { items(d.sites, d.n_sites, "sites") }?
        .iter()
        .enumerate()
    {
        let site = unsafe { text(&s.name, &format!("site {i}'s name")) }?;
        let points =
            |ptr: *const Point, n: usize, what: &str| -> Result<Vec<(String, usize)>, String> {
                let list = unsafe { items(ptr, n, &format!("site `{site}`'s {what}")) }?;
                list.iter()
                    .map(|p| {
                        let k =
                            unsafe { text(&p.kind, &format!("a {what} kind of site `{site}`")) }?;
                        Ok((k, p.index as usize))
                    })
                    .collect()
            };
        let mut info = SiteInfo {
            name: site.clone(),
            sensors: Vec::new(),
            actuators: Vec::new(),
        };
        for (k, index) in points(s.sensors, s.n_sensors, "sensors")? {
            match kind::<SensorKind>(&k) {
                Some(_) if index >= d.n_outputs => errors.push(format!(
                    "site `{site}`: sensor {k} reads output {index}, beyond its {} outputs",
                    d.n_outputs
                )),
                Some(kind) => info.sensors.push((kind, index)),
                None => errors.push(format!("site `{site}`: unknown sensor kind `{k}`")),
            }
        }
        for (k, index) in points(s.actuators, s.n_actuators, "actuators")? {
            match kind::<ActuatorKind>(&k) {
                Some(_) if index >= MAX_INPUTS => errors.push(format!(
                    "site `{site}`: actuator {k} drives input {index}, beyond the {MAX_INPUTS} inputs"
                )),
                Some(kind) => info.actuators.push((kind, index)),
                None => errors.push(format!("site `{site}`: unknown actuator kind `{k}`")),
            }
        }
        sites.push(info);
    }
    let mut params: Vec<ParamInfo> = Vec::new();
    for (i, p) in unsafe { items(d.params, d.n_params, "params") }?
        .iter()
        .enumerate()
    {
        let pname = unsafe { text(&p.name, &format!("param {i}'s name")) }?;
        let field = |f: &str| format!("param `{pname}`'s {f}");
        let info = ParamInfo {
            name: pname.clone(),
            default: p.default,
            other_mode_default: None,
            min: p.min,
            max: p.max,
            unit: unsafe { text(&p.unit, &field("unit")) }?,
            meaning: unsafe { text(&p.meaning, &field("meaning")) }?,
            source: unsafe { text(&p.source, &field("source")) }?,
        };
        if !(p.min.is_finite() && p.max.is_finite() && p.min <= p.max) {
            errors.push(format!("param `{pname}`: range {} to {}", p.min, p.max));
        } else if info.check(p.default).is_err() {
            errors.push(format!(
                "param `{pname}`: default {} outside its range {} to {}",
                p.default, p.min, p.max
            ));
        }
        if params.iter().any(|q| q.name == pname) {
            errors.push(format!("param `{pname}` declared twice"));
        }
        params.push(info);
    }
    let mut events = Vec::new();
    for (i, e) in unsafe { items(d.events, d.n_events, "events") }?
        .iter()
        .enumerate()
    {
        events.push(EventInfo {
            name: unsafe { text(&e.name, &format!("event {i}'s name")) }?,
            meaning: unsafe { text(&e.meaning, &format!("event {i}'s meaning")) }?,
        });
    }
    if !errors.is_empty() {
        return Err(format!("model `{name}`: {}", errors.join("; ")));
    }
    Ok(ModelInfo {
        summary: unsafe { text(&d.summary, "summary") }?,
        name,
        sites,
        params,
        mode: None,
        events,
        origin: origin.to_string(),
    })
}

impl PlantModel for ForeignModel {
    fn info(&self) -> ModelInfo {
        self.info.clone()
    }

    fn build(&self, given: &BTreeMap<String, f64>) -> Result<Box<dyn Plant>, String> {
        let mut errors = Vec::new();
        let values: Vec<f64> = self
            .info
            .params
            .iter()
            .map(|p| match given.get(&p.name) {
                Some(&v) => {
                    if let Err(e) = p.check(v) {
                        errors.push(e);
                    }
                    v
                }
                None => p.default,
            })
            .collect();
        if !errors.is_empty() {
            return Err(errors.join("\n"));
        }
        let mut message = vec![0u8; ERROR_CAPACITY];
        let mut len = 0usize;
        // SAFETY: `values` holds one number per declared parameter; the buffer and `len` are
        // writable for the call.
        let plant = unsafe {
            (self.descriptor.create)(
                values.as_ptr(),
                values.len(),
                message.as_mut_ptr(),
                message.len(),
                &mut len,
            )
        };
        let Some(plant) = NonNull::new(plant) else {
            message.truncate(len.min(ERROR_CAPACITY));
            return Err(format!(
                "simulator model `{}` refuses its parameters: {}",
                self.info.name,
                String::from_utf8_lossy(&message)
            ));
        };
        Ok(Box::new(ForeignPlant {
            descriptor: self.descriptor,
            plant,
            n_outputs: self.descriptor.n_outputs,
        }))
    }
}

/// A plant the library built; destroyed by the library when dropped.
struct ForeignPlant {
    descriptor: &'static ModelDescriptor,
    plant: NonNull<c_void>,
    n_outputs: usize,
}

// SAFETY: the SDK requires `Model: Send`, and the plant is only used through `&mut self` or
// `&self` of this owner.
unsafe impl Send for ForeignPlant {}

impl Plant for ForeignPlant {
    fn step(&mut self, inputs: &[f64; MAX_INPUTS], dt_s: f64) {
        // SAFETY: a live plant of this library; MAX_INPUTS numbers.
        unsafe { (self.descriptor.step)(self.plant.as_ptr(), inputs.as_ptr(), dt_s) }
    }

    fn outputs(&self) -> &[f64] {
        // SAFETY: a live plant; the SDK returns `n_outputs` numbers valid until the next call
        // on it, which needs `&mut self`.
        unsafe {
            let ptr = (self.descriptor.outputs)(self.plant.as_ptr());
            std::slice::from_raw_parts(ptr, self.n_outputs)
        }
    }

    fn inject(&mut self, fault: PlantFault) {
        let code = FaultCode::encode(match fault {
            PlantFault::Air => perfuse_model_sdk::PlantFault::Air,
            PlantFault::Occlusion { factor } => perfuse_model_sdk::PlantFault::Occlusion { factor },
            PlantFault::Leak {
                resistance_mmhg_min_ml,
            } => perfuse_model_sdk::PlantFault::Leak {
                resistance_mmhg_min_ml,
            },
            PlantFault::Event(i) => perfuse_model_sdk::PlantFault::Event(i),
        });
        // SAFETY: a live plant of this library.
        unsafe { (self.descriptor.inject)(self.plant.as_ptr(), code) }
    }
}

impl Drop for ForeignPlant {
    fn drop(&mut self) {
        // SAFETY: a live plant, not used again.
        unsafe { (self.descriptor.destroy)(self.plant.as_ptr()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfuse_model_sdk::{Event, Model, Param, Site, descriptor};

    /// A bed behind a pump, in-process, through the same ABI as a library.
    struct Bed {
        r: f64,
        out: [f64; 2],
    }

    impl Model for Bed {
        const NAME: &'static str = "bed";
        const SUMMARY: &'static str = "a resistance behind a pump";
        const SITES: &'static [Site] = &[Site::new(
            "line",
            &[Point::new("Pressure", 0), Point::new("Bubble", 1)],
            &[Point::new("RollerPump", 0)],
        )];
        const PARAMS: &'static [Param] = &[Param::new(
            "r_mmhg_min_ml",
            0.3,
            0.01,
            10.0,
            "mmHg/(mL/min)",
            "bed resistance",
            "my choice",
        )];
        const EVENTS: &'static [Event] = &[Event::new("burst", "the model panics")];
        const OUTPUTS: usize = 2;
        fn create(p: &[f64]) -> Result<Self, String> {
            if p[0] > 5.0 {
                return Err("r_mmhg_min_ml above 5 is a clot, not a bed".into());
            }
            Ok(Bed {
                r: p[0],
                out: [0.0; 2],
            })
        }
        fn step(&mut self, inputs: &[f64; MAX_INPUTS], _dt_s: f64) {
            self.out[0] = inputs[0] * self.r;
        }
        fn outputs(&self) -> &[f64] {
            &self.out
        }
        fn inject(&mut self, fault: perfuse_model_sdk::PlantFault) {
            match fault {
                perfuse_model_sdk::PlantFault::Air => self.out[1] = 1.0,
                perfuse_model_sdk::PlantFault::Event(_) => panic!("burst"),
                _ => {}
            }
        }
    }

    static BED: ModelDescriptor = descriptor::<Bed>();

    fn wrap(d: &'static ModelDescriptor) -> Result<ForeignModel, String> {
        // SAFETY: a static descriptor of this process.
        unsafe { ForeignModel::new(d, "test") }
    }

    fn leak(d: ModelDescriptor) -> &'static ModelDescriptor {
        Box::leak(Box::new(d))
    }

    #[test]
    fn a_model_steps_checks_its_parameters_and_survives_its_panic() {
        let model = wrap(&BED).unwrap();
        let info = model.info();
        assert_eq!(
            info.sites[0].sensors,
            [(SensorKind::Pressure, 0), (SensorKind::Bubble, 1)]
        );
        assert_eq!(info.sites[0].actuators, [(ActuatorKind::RollerPump, 0)]);
        let mut plant = model.build(&BTreeMap::new()).unwrap();
        let mut inputs = [0.0; MAX_INPUTS];
        inputs[0] = 100.0;
        plant.step(&inputs, 0.01);
        assert_eq!(plant.outputs(), [30.0, 0.0]);
        plant.inject(PlantFault::Air);
        plant.step(&inputs, 0.01);
        assert_eq!(plant.outputs(), [30.0, 1.0]);
        // A panicking model reads NaN from then on; the host goes on.
        plant.inject(PlantFault::Event(0));
        plant.step(&inputs, 0.01);
        assert!(plant.outputs().iter().all(|v| v.is_nan()));

        let given = |v: f64| BTreeMap::from([("r_mmhg_min_ml".to_string(), v)]);
        let err = model.build(&given(20.0)).err().unwrap();
        assert!(
            err.contains("`r_mmhg_min_ml` = 20: must be a number from 0.01 to 10"),
            "{err}"
        );
        let err = model.build(&given(6.0)).err().unwrap();
        assert_eq!(
            err,
            "simulator model `bed` refuses its parameters: r_mmhg_min_ml above 5 is a clot, not a bed"
        );
    }

    #[test]
    fn a_bad_descriptor_is_refused_with_what_is_wrong() {
        let bad = |edit: fn(&mut ModelDescriptor)| {
            let mut d = BED;
            edit(&mut d);
            wrap(leak(d)).err().unwrap()
        };
        assert!(bad(|d| d.magic = 7).contains("bad magic"));
        assert!(bad(|d| d.abi_major = 2).contains("model ABI 2.0 is incompatible"));
        assert!(
            bad(|d| d.n_outputs = 1).contains("sensor Bubble reads output 1, beyond its 1 outputs")
        );
        static WRONG_KIND: [Point; 1] = [Point::new("Pressur", 0)];
        static WRONG_SITE: [Site; 1] = [Site::new("line", &WRONG_KIND, &[])];
        let err = bad(|d| d.sites = WRONG_SITE.as_ptr());
        assert!(
            err.contains("site `line`: unknown sensor kind `Pressur`"),
            "{err}"
        );
        static WRONG_DEFAULT: [Param; 1] = [Param::new(
            "r_mmhg_min_ml",
            50.0,
            0.01,
            10.0,
            "",
            "bed resistance",
            "",
        )];
        let err = bad(|d| d.params = WRONG_DEFAULT.as_ptr());
        assert!(
            err.contains("param `r_mmhg_min_ml`: default 50 outside its range"),
            "{err}"
        );
    }
}
