//! `runner data ls|fetch|verify`: find, download and verify datasets.

use super::{DataCommand, data_options};

pub(super) fn exec(d: &DataCommand) -> anyhow::Result<u8> {
    match d {
        DataCommand::Ls => {
            let rows = crate::data::status_all(&data_options(true));
            let width = rows
                .iter()
                .map(|s| s.state.len() + if s.approximate { 14 } else { 0 })
                .max()
                .unwrap_or(5)
                .max(5);
            println!(
                "{:<14}  {:<15}  {:<width$}  location",
                "dataset", "format", "state"
            );
            for s in rows {
                let fmt = s.format.as_str();
                let state = if s.approximate {
                    format!("{} (lossy copy)", s.state)
                } else {
                    s.state.clone()
                };
                println!(
                    "{:<14}  {:<15}  {:<28}  {}",
                    s.name,
                    fmt,
                    state,
                    s.location.unwrap_or_else(|| "-".into())
                );
            }
            Ok(0)
        }
        DataCommand::Fetch { name } => {
            let l = crate::data::fetch(name, &data_options(false)).map_err(crate::Error::from)?;
            println!(
                "{}: {} classes, digest {} at {}",
                l.id.name,
                l.classes.len(),
                l.id.digest,
                l.path
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "(embedded)".into())
            );
            Ok(0)
        }
        DataCommand::Verify { name } => {
            let report =
                crate::data::verify(name, &data_options(true)).map_err(crate::Error::from)?;
            println!("{report}");
            Ok(0)
        }
    }
}
