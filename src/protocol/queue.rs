//! Encrypted queue IDs: a leaf names the queue its provider delivers to only as a ciphertext
//! for that provider, so the hub fans out without learning which client a leaf belongs to.
//! MIMIMI -01 section "Message Fanout".

use openmls::prelude::{Extension, Extensions, UnknownExtension};
use tls_codec::VLBytes;

use super::connection::{open, seal};
use super::{ProtocolError, QUEUE_ID_EXTENSION_TYPE};

/// HPKE `info` of a sealed queue ID.
const QUEUE_ID_INFO: &[u8] = b"MIMIMI QueueId";

/// Seals a queue ID to the client's provider. A fresh `seed` per leaf makes the ciphertexts of
/// one queue unlinkable.
pub fn seal_queue_id(
    seed: [u8; 32],
    provider_pk: &[u8],
    queue_id: &[u8],
) -> Result<VLBytes, ProtocolError> {
    seal(seed, provider_pk, QUEUE_ID_INFO, queue_id)
}

/// Opens a sealed queue ID with the provider's private key.
pub fn open_queue_id(provider_sk: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    open(provider_sk, QUEUE_ID_INFO, sealed)
}

/// The leaf node extension (type [`QUEUE_ID_EXTENSION_TYPE`]) carrying a sealed queue ID.
/// List the type in the leaf's capabilities.
pub fn queue_id_extension(sealed: VLBytes) -> Extension {
    Extension::Unknown(QUEUE_ID_EXTENSION_TYPE, UnknownExtension(sealed.into()))
}

/// The sealed queue ID in a leaf's extensions (`LeafNode::extensions` gives
/// `Extensions<LeafNode>`; any other object type works too), if any.
pub fn queue_id_from_leaf_extensions<T>(extensions: &Extensions<T>) -> Option<Vec<u8>> {
    extensions
        .unknown(QUEUE_ID_EXTENSION_TYPE)
        .map(|UnknownExtension(bytes)| bytes.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HpkeKeys;
    use openmls::prelude::LeafNode;
    use tls_codec::{Deserialize as _, Serialize as _};

    #[test]
    fn queue_ids_open_at_the_provider_and_are_unlinkable() {
        let provider = HpkeKeys::derive(&[1; 32]).unwrap();
        let other = HpkeKeys::derive(&[2; 32]).unwrap();
        let queue_id = b"queue-0042".to_vec();

        let a = seal_queue_id([3; 32], &provider.public, &queue_id).unwrap();
        let b = seal_queue_id([4; 32], &provider.public, &queue_id).unwrap();
        assert_ne!(a, b);
        assert_eq!(
            a,
            seal_queue_id([3; 32], &provider.public, &queue_id).unwrap()
        );
        // Neither ciphertext contains the queue ID in the clear.
        for sealed in [&a, &b] {
            assert!(!sealed
                .as_slice()
                .windows(queue_id.len())
                .any(|w| w == queue_id.as_slice()));
        }
        assert_eq!(
            open_queue_id(&provider.private, a.as_slice()).unwrap(),
            queue_id
        );
        assert_eq!(
            open_queue_id(&provider.private, b.as_slice()).unwrap(),
            queue_id
        );
        assert!(open_queue_id(&other.private, a.as_slice()).is_err());
    }

    #[test]
    fn queue_id_travels_in_leaf_node_extensions() {
        let provider = HpkeKeys::derive(&[1; 32]).unwrap();
        let sealed = seal_queue_id([3; 32], &provider.public, b"q").unwrap();
        let leaf_extensions =
            Extensions::<LeafNode>::single(queue_id_extension(sealed.clone())).unwrap();

        // Through the wire encoding, which validates the type for a leaf node.
        let bytes = leaf_extensions.tls_serialize_detached().unwrap();
        let parsed = Extensions::<LeafNode>::tls_deserialize_exact(&bytes).unwrap();
        let found = queue_id_from_leaf_extensions(&parsed).unwrap();
        assert_eq!(found, sealed.as_slice());
        assert_eq!(open_queue_id(&provider.private, &found).unwrap(), b"q");

        assert_eq!(
            queue_id_from_leaf_extensions(&Extensions::<LeafNode>::empty()),
            None
        );
    }
}
