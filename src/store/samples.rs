//! The stored form of a timeline's samples, shared by both backends: little-endian `f32`s
//! back to back, four bytes a second of class (an hour-long class is about 14 KiB), read
//! back bit for bit.

/// The samples as bytes.
pub(crate) fn to_bytes(samples: &[f32]) -> Vec<u8> {
    samples.iter().flat_map(|s| s.to_le_bytes()).collect()
}

/// Bytes whose length is not a whole number of samples were not written by [`to_bytes`].
#[derive(Debug, thiserror::Error)]
#[error("a stored timeline of {0} bytes is not a whole number of samples")]
pub(crate) struct TornSamples(usize);

/// The samples stored by [`to_bytes`].
pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Vec<f32>, TornSamples> {
    if !bytes.len().is_multiple_of(4) {
        return Err(TornSamples(bytes.len()));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_read_back_bit_for_bit() {
        let samples = [
            0.0,
            0.1,
            1.0e-7,
            123_456.79,
            f32::MAX,
            -0.0,
            f32::MIN_POSITIVE,
        ];
        let back = from_bytes(&to_bytes(&samples)).expect("whole samples");
        let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&back), bits(&samples));
    }

    #[test]
    fn each_sample_takes_four_bytes() {
        assert_eq!(to_bytes(&[1.0; 3600]).len(), 14_400);
        assert!(from_bytes(&[]).expect("empty").is_empty());
    }

    #[test]
    fn a_length_that_is_not_a_multiple_of_four_is_torn() {
        assert!(from_bytes(&[0, 0, 128]).is_err());
    }
}
