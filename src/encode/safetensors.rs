//! Stage 4, encode: just enough of the safetensors format to read one fp32 tensor: an 8-byte
//! little-endian header length, a JSON header naming each tensor's dtype, shape and byte
//! range, then the data.
//!
//! Why not the `safetensors` crate: its `SafeTensors::deserialize` wants the whole 90 MB file
//! in one buffer (or a memory map, another dependency), and the ONNX sessions need only the
//! 47 MB word-embedding table. Reading the header and that tensor's bytes keeps start-up and
//! peak memory down; the format is small and fixed, and the tests below pin it.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// What is wrong with a safetensors file.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be opened or read.
    #[error("cannot read the file")]
    Io(#[from] std::io::Error),
    /// The header is not JSON.
    #[error("the header is not JSON")]
    Header(#[from] serde_json::Error),
    /// The file does not hold the tensor as needed.
    #[error("{0}")]
    Format(String),
}

/// Reads the fp32 tensor `name`: its shape and its values.
pub(crate) fn read_f32(path: &Path, name: &str) -> Result<(Vec<usize>, Vec<f32>), WeightsError> {
    let bad = |message: String| WeightsError::Format(message);
    let mut file = File::open(path)?;
    let mut len = [0u8; 8];
    file.read_exact(&mut len)?;
    let len = usize::try_from(u64::from_le_bytes(len)).map_err(|_| bad("header length overflows".into()))?;
    if len > 100 << 20 {
        return Err(bad(format!("header of {len} bytes is not plausible")));
    }
    let mut header = vec![0u8; len];
    file.read_exact(&mut header)?;
    let header: serde_json::Value = serde_json::from_slice(&header)?;
    let info = header.get(name).ok_or_else(|| bad(format!("has no tensor {name}")))?;
    if info["dtype"] != "F32" {
        return Err(bad(format!("{name} is {}, not F32", info["dtype"])));
    }
    let numbers = |key: &str| -> Option<Vec<usize>> {
        info[key].as_array()?.iter().map(|v| v.as_u64().and_then(|n| usize::try_from(n).ok())).collect()
    };
    let shape = numbers("shape").ok_or_else(|| bad(format!("{name} has no shape")))?;
    let range = numbers("data_offsets").filter(|r| r.len() == 2 && r[0] <= r[1]);
    let range = range.ok_or_else(|| bad(format!("{name} has no data_offsets")))?;
    let bytes = range[1] - range[0];
    if Some(bytes) != shape.iter().try_fold(4usize, |acc, &d| acc.checked_mul(d)) {
        return Err(bad(format!("{name}: {bytes} bytes do not fit shape {shape:?}")));
    }
    file.seek(SeekFrom::Start((8 + len + range[0]) as u64))?;
    let mut raw = vec![0u8; bytes];
    file.read_exact(&mut raw)?;
    let values = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
    Ok((shape, values))
}

#[cfg(test)]
mod tests {
    use super::read_f32;

    fn file(header: &str, data: &[f32]) -> tempfile::NamedTempFile {
        use std::io::Write;
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(&(header.len() as u64).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        for v in data {
            f.write_all(&v.to_le_bytes()).unwrap();
        }
        f
    }

    #[test]
    fn reads_the_named_tensor_and_refuses_bad_ones() {
        let h = r#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2,2],"data_offsets":[4,20]},"c":{"dtype":"F16","shape":[1],"data_offsets":[20,22]}}"#;
        let f = file(h, &[9.0, 1.0, 2.0, 3.0, 4.0]);
        assert_eq!(read_f32(f.path(), "b").unwrap(), (vec![2, 2], vec![1.0, 2.0, 3.0, 4.0]));
        assert!(read_f32(f.path(), "x").unwrap_err().to_string().contains("no tensor x"));
        assert!(read_f32(f.path(), "c").unwrap_err().to_string().contains("not F32"));
    }
}
