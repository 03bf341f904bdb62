//! Rules and phase exits on the plugin's derived values (`signal: "derived.NAME"`): bound to the
//! plugin's names once it is loaded (an unknown name is a located error, from `run` and
//! `check`), judged by the core each tick, and unknown, never stale, once the plugin has faulted.

use crate::common::*;

/// `rules` inserted first in kidney HMP's rules.
fn kidney_hmp_with(rules: &str) -> String {
    edited_protocol(
        "kidney-hmp.ron",
        &[("    rules: [\n", &format!("    rules: [\n{rules}"))],
    )
}

/// A medium, alarm-only rule `id` on `condition`.
fn rule(id: &str, condition: &str, persist_s: f64) -> String {
    format!(
        "        (id: \"{id}\", text: \"{id}\", priority: Medium, condition: {condition}, \
         persist_s: {persist_s}, latch: false, action: AlarmOnly),\n"
    )
}

/// The kidney plugin's resistance index falls from about 0.6 as the kidney's vessels open
/// (§10): a rule on it above 0.5 for a minute is raised, with the limit and the index in the
/// alarm log, and ends once the index is back below.
#[test]
fn a_rule_on_the_plugins_resistance_index_is_raised_and_ends() {
    let text = kidney_hmp_with(&rule(
        "ri_high",
        "Above(signal: \"derived.resistance_index\", limit: 0.5)",
        60.0,
    ));
    let (_dir, file) = temp_protocol(&text);
    let s = run_summary(&file, &["--duration", "10m"]);
    let a = alarm(&s, "ri_high").expect("ri_high raised");
    assert!(f(&a["first_s"]) >= 60.0, "{a}");
    assert_eq!(a["active_at_end"], false, "{a}");
    let entry = log_entries(&s, "ri_high")[0];
    assert_eq!(f(&entry["limit"]), 0.5, "{entry}");
    assert!(f(&entry["value"]) > 0.5, "{entry}");
    assert!(
        f(&s["derived"]["resistance_index"]) < 0.5,
        "{}",
        s["derived"]
    );
}

/// A name the plugin does not declare is refused once the plugin is loaded, at each condition
/// naming it, with the names it declares; `perfuse check` reports it with the file's other
/// problems. A rule and an `exit_when` are bound alike.
#[test]
fn an_unknown_derived_name_is_a_located_error_listing_the_plugins() {
    let text = kidney_hmp_with(&format!(
        "{}{}",
        rule("ri_typo", "Above(signal: \"derived.ri\", limit: 0.5)", 1.0),
        rule(
            "nested",
            "All([Below(signal: \"mean_pressure\", limit: 40.0), \
             Outside(signal: \"derived.flow_index\", band: (min: 1.0, max: 2.0))])",
            1.0
        ),
    ));
    let (_dir, file) = temp_protocol(&text);
    let f = file.to_str().unwrap();
    let out = perfuse(&["run", f, "--duration", "1m"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    let declared = "expected a derived value plugin `kidney` declares (";
    assert!(
        err.contains(&format!(
            "rules[0].condition.signal: {declared}resistance_index, ri_at_2min, "
        )) && err.contains("resistance_index")
            && err.contains("found `derived.ri`"),
        "{err}"
    );
    assert!(
        err.contains("rules[1].condition[1].signal: ")
            && err.contains("found `derived.flow_index`"),
        "{err}"
    );
    // Each at the line of its rule in the file.
    let line = |needle: &str| text[..text.find(needle).unwrap()].lines().count();
    assert!(
        err.contains(&format!("edited.ron:{}:", line("derived.ri\""))),
        "{err}"
    );
    let out = perfuse(&["check", f]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("found `derived.ri`")
            && stderr(&out).contains("found `derived.flow_index`")
            && stderr(&out).contains("2 problem(s)"),
        "{}",
        stderr(&out)
    );

    // A name without the prefix is a signal, and the error says how to name a derived value.
    let (_dir, file) = temp_protocol(&kidney_hmp_with(&rule(
        "no_prefix",
        "Above(signal: \"resistance_index\", limit: 0.5)",
        1.0,
    )));
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains(
            "expected a declared sensor or estimate, or `derived.NAME` for a derived value of the plugin, found `resistance_index`"
        ),
        "{}",
        stderr(&out)
    );
}

/// The faulty test plugin reports its step count as `steps` and panics at 30 s. A rule on it
/// above 1,000 steps is raised at 10 s; one above 2,500 steps held for 10 s would be raised at
/// 35 s, but from the fault at 30 s the plugin's last values are no longer its word: the
/// condition cannot be judged, nothing more is raised, and the plugin-fault alarm (HIGH) stands
/// for it, as a lost sensor's alarm stands for the rules on it.
#[test]
fn a_faulted_plugins_derived_values_are_unknown_and_its_fault_alarms() {
    let mut text = edited_protocol(
        "kidney-hmp.ron",
        &faulty_kidney(r#""mode": 1.0, "at_s": 30.0,"#),
    );
    text = edit(
        &text,
        &[(
            "    rules: [\n",
            &format!(
                "    rules: [\n{}{}",
                rule(
                    "steps_1000",
                    "Above(signal: \"derived.steps\", limit: 1000.0)",
                    0.0
                ),
                rule(
                    "steps_2500",
                    "Above(signal: \"derived.steps\", limit: 2500.0)",
                    10.0
                ),
            ),
        )],
    );
    let (_dir, file) = temp_protocol(&text);
    let fixture = fixture_args();
    let s = run_summary(&file, &with_fixture_args(&["--duration", "2m"], &fixture));
    let first = alarm(&s, "steps_1000").expect("raised before the fault");
    assert!((10.0..10.1).contains(&f(&first["first_s"])), "{first}");
    assert_eq!(
        first["active_at_end"], true,
        "an unknown condition does not end an alarm"
    );
    assert!(alarm(&s, "steps_2500").is_none(), "{}", s["alarms"]);
    let fault = alarm(&s, "plugin_fault").expect("the plugin's fault alarm");
    assert_eq!(fault["priority"], "high");
    assert!((30.0..30.1).contains(&f(&fault["first_s"])), "{fault}");
}

/// A phase's `exit_when` can name a derived value too: kidney NMP's warm-up ends once the
/// resistance index has been below 0.55 for a minute, instead of on the perfusate temperature.
#[test]
fn a_phase_ends_on_a_derived_value() {
    let text = edited_protocol(
        "kidney-nmp.ron",
        &[(
            r#"exit_when: Some((condition: Above(signal: "perfusate_temp", limit: 35.45), for_s: 60.0)),"#,
            r#"exit_when: Some((condition: Below(signal: "derived.resistance_index", limit: 0.55), for_s: 60.0)),"#,
        )],
    );
    let (_dir, file) = temp_protocol(&text);
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut run = lockstep(&file, &[], 1);
    let slot = run
        .plugin
        .derived_names
        .iter()
        .position(|n| n == "resistance_index")
        .unwrap();
    let phase = |r: &perfuse_core::run::Run| r.tick_state().protocol.phase.index;
    let ri = |r: &perfuse_core::run::Run| r.tick_state().protocol.plugin.derived.values[slot];
    // The last tick of the warm-up, and the index over the minute before it.
    let mut below_since = None;
    let end = step_until(&mut run, 1200.0, |r| {
        if ri(r) < 0.55 {
            below_since.get_or_insert(r.tick());
        } else {
            below_since = None;
        }
        phase(r) == 1
    });
    let since = below_since.expect("below 0.55 when the phase ended");
    assert!(end < ticks(&run, 1199.0), "ended early, at tick {end}");
    assert!(
        end - since >= ticks(&run, 60.0),
        "held {} ticks",
        end - since
    );
}

/// `derived.` names the plugin's values: a sensor whose id starts with it is refused where it is
/// declared, so that no condition can mean two things.
#[test]
fn a_sensor_id_in_the_derived_namespace_is_refused() {
    let text = edited_protocol(
        "kidney-hmp.ron",
        &[("(id: \"bubble\",", "(id: \"derived.bubble\",")],
    );
    let (_dir, file) = temp_protocol(&text);
    let out = perfuse(&["check", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let line = text
        .lines()
        .position(|l| l.contains("\"derived.bubble\""))
        .unwrap()
        + 1;
    let err = stderr(&out);
    assert!(
        err.lines().any(|l| l.contains(&format!(":{line}:"))
            && l.contains("circuit.sensors[")
            && l.contains("does not start with `derived.`")
            && l.contains("`derived.bubble`")),
        "{err}"
    );
}
