//! `export` and `import`: the whole store as JSON lines, for backups and moves.

use std::path::Path;

use anyhow::Context;

use super::open_store;
use crate::config::Config;
use crate::store::StoreError;

/// `export`: to stdout, or to a temporary file beside FILE renamed over it at the end, so
/// a failed export never leaves a truncated file that passes for a backup.
pub(super) fn export(config: &Config, output: Option<&Path>) -> anyhow::Result<()> {
    let store = open_store(config)?;
    let Some(path) = output else {
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let counts = store.export(&mut out)?;
        eprintln!("exported {counts}");
        return Ok(());
    };
    let tmp = partial(path);
    let file = std::fs::File::create(&tmp).with_context(|| {
        format!(
            "exporting to {}: cannot create {}",
            path.display(),
            tmp.display()
        )
    })?;
    let mut out = std::io::BufWriter::new(file);
    let written = store.export(&mut out).and_then(|counts| {
        let file = out.into_inner().map_err(|e| StoreError::Io {
            step: "writing the export".into(),
            source: e.into_error(),
        })?;
        file.sync_all().map_err(|source| StoreError::Io {
            step: "syncing the export".into(),
            source,
        })?;
        Ok(counts)
    });
    let counts = match written {
        Ok(c) => c,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e).with_context(|| format!("exporting to {}", path.display()));
        }
    };
    std::fs::rename(&tmp, path).with_context(|| {
        format!(
            "exporting to {}: renaming {}",
            path.display(),
            tmp.display()
        )
    })?;
    eprintln!("exported {counts} to {}", path.display());
    Ok(())
}

/// The temporary file an export to `path` is written to, renamed over it when complete.
pub(super) fn partial(path: &Path) -> std::path::PathBuf {
    path.with_file_name(format!(
        ".{}.partial",
        path.file_name().unwrap_or_default().to_string_lossy()
    ))
}

/// `import`: into the configured store, which must be empty.
pub(super) fn import(config: &Config, file: &Path) -> anyhow::Result<()> {
    let input: Box<dyn std::io::BufRead> = if file == Path::new("-") {
        Box::new(std::io::stdin().lock())
    } else {
        let f = std::fs::File::open(file)
            .with_context(|| format!("cannot read the export {}", file.display()))?;
        Box::new(std::io::BufReader::new(f))
    };
    let store = open_store(config).map_err(|e| {
        if matches!(e.downcast_ref::<StoreError>(), Some(StoreError::Held { .. })) {
            e.context("import restores into a stopped service's empty store: stop the service first (`systemctl stop feedwatch`), import, then start it")
        } else {
            e
        }
    })?;
    let counts = store.import(input).with_context(|| {
        format!(
            "importing {} into {}",
            file.display(),
            store.path().display()
        )
    })?;
    eprintln!("imported {counts} into {}", store.path().display());
    Ok(())
}
