//! The subcommands, as library functions over validated settings. The binary only parses
//! flags into these settings and maps results to exit codes.

pub mod behaviour;
pub mod embed;
pub mod eval;
pub mod finetune;
pub mod int8_correction;
pub mod score;
pub mod train;

/// The data files a trained artefact was made from, for its provenance: each file as given and
/// its sha256.
pub(crate) fn data_provenance<'a>(
    paths: impl IntoIterator<Item = &'a std::path::PathBuf>,
) -> crate::error::Result<Vec<serde_json::Value>> {
    paths
        .into_iter()
        .map(|path| {
            let sha256 = crate::assets::sha256_file(path)?;
            Ok(serde_json::json!({"file": path.display().to_string(), "sha256": sha256}))
        })
        .collect()
}
