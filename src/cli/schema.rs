//! `runner schema`: print the JSON Schema of experiment specs (for editors).

pub(super) fn exec() -> anyhow::Result<u8> {
    println!(
        "{}",
        serde_json::to_string_pretty(&crate::spec::schema::spec_schema())?
    );
    Ok(0)
}
