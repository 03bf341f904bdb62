//! Every protocol file shipped in `protocols/` loads and validates without a diagnostic.

use std::path::Path;

#[test]
fn every_shipped_protocol_validates() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocols");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).expect("protocols/ exists") {
        let path = entry.expect("readable entry").path();
        if path.extension().is_some_and(|e| e == "ron") {
            if let Err(e) = perfuse_protocol::load(&path) {
                panic!("{e}");
            }
            checked += 1;
        }
    }
    // Exactly the files shipped (tests/common `SHIPPED_PROTOCOLS` names them): a file that
    // stopped being read here would otherwise go unnoticed.
    assert_eq!(checked, 16, "protocol files in protocols/");
}
