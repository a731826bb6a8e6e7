//! Regression tests: one test per bug fixed from now on, named after the bug (its commit's
//! subject), with a doc line saying what went wrong. Each drives the real binary or a real
//! store, and fails when its fix is reverted.

use feedwatch::store::Store;

/// "sinks: journal sequences start at 1" (f2b9a59). A sink's cursor 0 means "nothing
/// delivered yet", and a sink reads the journal entries after its cursor; on a fresh store
/// sled's id generator starts at 0, so the first line delivered to the alert log was
/// journalled as sequence 0 and never reached any sink.
#[test]
fn sinks_journal_sequences_start_at_1() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("store"), 16 << 20).unwrap();
    store.keep_journal(true);
    // a sink configured before anything was delivered starts at the (empty) journal's end
    let cursor = store.sink_cursor("ops").unwrap();
    assert_eq!(cursor, 0);
    let first = r#"{"kind":"match","id":"first"}"#.to_string();
    store.journal_append(std::slice::from_ref(&first)).unwrap();
    let entries = store.journal_after(cursor, 10).unwrap();
    assert_eq!(
        entries.iter().map(|(_, l)| l).collect::<Vec<_>>(),
        [&first],
        "the first line delivered must reach a sink that was waiting for it"
    );
    assert!(entries[0].0 >= 1, "sequence {}", entries[0].0);
}
