//! What MIMIMI adds to MLS group messages: the identity link wrapper key in the Welcome's
//! GroupInfo, and the wrapped identity link keys of new members in commit AADs.

use openmls::prelude::{Extension, Extensions, UnknownExtension};
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::{
    decode, encode, encode_bounded, IdentityLinkWrapperKey, ProtocolError,
    IDENTITY_LINK_EXTENSION_TYPE,
};

/// AAD of a commit that adds members: one identity link key per Add, wrapped under the room's
/// wrapper key, in the order of the Adds. MIMIMI -01 section "Add flow" (`AddAAD`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, Default, PartialEq, Eq)]
pub struct AddAad {
    /// Outputs of [`super::wrap_identity_link_key`], one per added member.
    pub encrypted_identity_link_keys: Vec<VLBytes>,
}

/// AAD of an external commit: the joiner's identity link key wrapped under the room's wrapper
/// key, and, when the join answers a connection request, the sealed [`super::ConnectionResponse`].
/// MIMIMI -01 sections "External join" and "Connection establishment".
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct ExternalJoinAad {
    /// Output of [`super::wrap_identity_link_key`] for the joiner's new leaf.
    pub encrypted_identity_link_key: VLBytes,
    /// Output of [`super::seal_connection_response`], if this join answers a connection request.
    pub connection_response: Option<VLBytes>,
}

/// GroupInfo extension (sent in the Welcome) with the room's identity link wrapper key.
/// MIMIMI -01 section "Identity link wrapper key" (`IdentityLinkExtension`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct IdentityLinkExtension {
    /// The room's [`IdentityLinkWrapperKey`].
    pub identity_link_wrapper_key: VLBytes,
}

impl AddAad {
    /// The TLS encoding, to pass to `MlsGroup::set_aad`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        encode(self)
    }

    /// Parses a commit's AAD.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        decode(bytes)
    }
}

impl ExternalJoinAad {
    /// The TLS encoding, to pass to the external commit builder's `with_aad`.
    pub fn to_bytes(&self) -> Result<Vec<u8>, ProtocolError> {
        encode(self)
    }

    /// Parses an external commit's AAD.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ProtocolError> {
        decode(bytes)
    }
}

impl IdentityLinkExtension {
    /// The extension for a room with this wrapper key.
    pub fn new(key: &IdentityLinkWrapperKey) -> Self {
        Self {
            identity_link_wrapper_key: key.0.as_slice().into(),
        }
    }

    /// The wrapper key it carries.
    pub fn wrapper_key(&self) -> Result<IdentityLinkWrapperKey, ProtocolError> {
        IdentityLinkWrapperKey::from_slice(self.identity_link_wrapper_key.as_slice())
    }

    /// As an MLS extension of type [`IDENTITY_LINK_EXTENSION_TYPE`], for the commit builder's
    /// `create_group_info_with_extensions`.
    pub fn to_extension(&self) -> Extension {
        Extension::Unknown(
            IDENTITY_LINK_EXTENSION_TYPE,
            UnknownExtension(encode_bounded(self)),
        )
    }

    /// Finds the extension in an extension list. Generic over the list's object type, so it
    /// reads the `Extensions<GroupInfo>` of both `GroupInfo::extensions` and
    /// `VerifiableGroupInfo::extensions` (what `ProcessedWelcome::unverified_group_info()`
    /// returns). `None` when the extension is absent or does not parse.
    pub fn from_extensions<T>(extensions: &Extensions<T>) -> Option<Self> {
        let UnknownExtension(bytes) = extensions.unknown(IDENTITY_LINK_EXTENSION_TYPE)?;
        decode(bytes).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use openmls::messages::group_info::GroupInfo;
    use tls_codec::{Deserialize as _, Serialize as _};

    #[test]
    fn identity_link_extension_travels_in_group_info_extensions() {
        let key = IdentityLinkWrapperKey([0xAB; 32]);
        let ext = IdentityLinkExtension::new(&key);
        let group_info_extensions = Extensions::<GroupInfo>::single(ext.to_extension()).unwrap();

        // Through the wire encoding, which validates the type for a GroupInfo.
        let bytes = group_info_extensions.tls_serialize_detached().unwrap();
        let parsed = Extensions::<GroupInfo>::tls_deserialize_exact(&bytes).unwrap();
        let found = IdentityLinkExtension::from_extensions(&parsed).unwrap();
        assert_eq!(found, ext);
        assert_eq!(found.wrapper_key().unwrap(), key);

        assert_eq!(
            IdentityLinkExtension::from_extensions(&Extensions::<GroupInfo>::empty()),
            None
        );
    }

    #[test]
    fn aads_round_trip() {
        let add = AddAad {
            encrypted_identity_link_keys: vec![vec![1u8; 60].into(), vec![2u8; 60].into()],
        };
        assert_eq!(AddAad::from_bytes(&add.to_bytes().unwrap()).unwrap(), add);

        for connection_response in [None, Some(vec![3u8; 90].into())] {
            let join = ExternalJoinAad {
                encrypted_identity_link_key: vec![4u8; 60].into(),
                connection_response,
            };
            let bytes = join.to_bytes().unwrap();
            assert_eq!(ExternalJoinAad::from_bytes(&bytes).unwrap(), join);
        }
    }
}
