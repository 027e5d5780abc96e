//! Connection establishment: the requester seals a [`ConnectionRequest`] to the responder's
//! connection-establishment key; the responder joins the connection room by external commit
//! and answers with a [`ConnectionResponse`] sealed to the request's response key.
//! MIMIMI -01 section "Connection establishment".

use openmls::prelude::Credential;
use openmls_traits::types::HpkeCiphertext;
use tls_codec::{TlsDeserialize, TlsSerialize, TlsSize, VLBytes};

use super::{decode, encode, ConnectionKey, IdentityLinkWrapperKey, ProtocolError};
use crate::crypto::{hpke_open, hpke_seal_seeded};

/// HPKE `info` of a sealed [`ConnectionRequest`].
const REQUEST_INFO: &[u8] = b"MIMIMI ConnectionRequest";

/// HPKE `info` of a sealed [`ConnectionResponse`].
const RESPONSE_INFO: &[u8] = b"MIMIMI ConnectionResponse";

/// A request to connect, HPKE-sealed to the responder's connection-establishment key.
/// MIMIMI -01 section "Connection establishment" (`ConnectionRequest`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionRequest {
    /// TLS encoding of the requester's real MLS credential.
    pub requester_client_credential: VLBytes,
    /// The real credential's signature public key (a BasicCredential does not carry it).
    pub requester_client_signature_key: VLBytes,
    /// The room in which the responder answers, by external commit.
    pub connection_room_id: VLBytes,
    /// That room's [`IdentityLinkWrapperKey`].
    pub connection_room_identity_link_wrapper_key: VLBytes,
    /// The requester's [`ConnectionKey`].
    pub requester_connection_key: VLBytes,
    /// Public part of a fresh HPKE key pair, to which the response is sealed.
    pub connection_response_key: VLBytes,
}

/// The responder's answer, sealed to the request's `connection_response_key` and carried in
/// the external commit's AAD. MIMIMI -01 section "Connection establishment"
/// (`ConnectionResponse`).
#[derive(TlsSerialize, TlsDeserialize, TlsSize, Clone, Debug, PartialEq, Eq)]
pub struct ConnectionResponse {
    /// The responder's [`ConnectionKey`].
    pub responder_connection_key: VLBytes,
}

impl ConnectionRequest {
    /// The requester's real MLS credential.
    pub fn requester_credential(&self) -> Result<Credential, ProtocolError> {
        decode(self.requester_client_credential.as_slice())
    }

    /// The requester's connection key.
    pub fn requester_connection_key(&self) -> Result<ConnectionKey, ProtocolError> {
        ConnectionKey::from_slice(self.requester_connection_key.as_slice())
    }

    /// The connection room's wrapper key.
    pub fn wrapper_key(&self) -> Result<IdentityLinkWrapperKey, ProtocolError> {
        IdentityLinkWrapperKey::from_slice(
            self.connection_room_identity_link_wrapper_key.as_slice(),
        )
    }
}

impl ConnectionResponse {
    /// A response that hands over `key`.
    pub fn new(key: &ConnectionKey) -> Self {
        Self {
            responder_connection_key: key.0.as_slice().into(),
        }
    }

    /// The responder's connection key.
    pub fn responder_connection_key(&self) -> Result<ConnectionKey, ProtocolError> {
        ConnectionKey::from_slice(self.responder_connection_key.as_slice())
    }
}

/// HPKE-seals `plaintext` with the ephemeral key from `seed`; the result is the TLS-encoded
/// `HpkeCiphertext`.
pub(super) fn seal(
    seed: [u8; 32],
    pk: &[u8],
    info: &[u8],
    plaintext: &[u8],
) -> Result<VLBytes, ProtocolError> {
    let ct = hpke_seal_seeded(seed, pk, info, &[], plaintext)?;
    Ok(encode(&ct)?.into())
}

/// Opens what [`seal`] made and returns the plaintext.
pub(super) fn open(sk: &[u8], info: &[u8], sealed: &[u8]) -> Result<Vec<u8>, ProtocolError> {
    let ct: HpkeCiphertext = decode(sealed)?;
    Ok(hpke_open(&ct, sk, info, &[])?)
}

/// Seals a connection request to the responder's connection-establishment key.
pub fn seal_connection_request(
    seed: [u8; 32],
    responder_establishment_pk: &[u8],
    request: &ConnectionRequest,
) -> Result<VLBytes, ProtocolError> {
    seal(
        seed,
        responder_establishment_pk,
        REQUEST_INFO,
        &encode(request)?,
    )
}

/// Opens a connection request with the responder's connection-establishment private key.
pub fn open_connection_request(
    sk: &[u8],
    sealed: &[u8],
) -> Result<ConnectionRequest, ProtocolError> {
    decode(&open(sk, REQUEST_INFO, sealed)?)
}

/// Seals a connection response to the request's `connection_response_key`.
pub fn seal_connection_response(
    seed: [u8; 32],
    connection_response_pk: &[u8],
    response: &ConnectionResponse,
) -> Result<VLBytes, ProtocolError> {
    seal(
        seed,
        connection_response_pk,
        RESPONSE_INFO,
        &encode(response)?,
    )
}

/// Opens a connection response with the private part of the request's response key.
pub fn open_connection_response(
    sk: &[u8],
    sealed: &[u8],
) -> Result<ConnectionResponse, ProtocolError> {
    decode(&open(sk, RESPONSE_INFO, sealed)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::HpkeKeys;
    use openmls::prelude::BasicCredential;
    use openmls_traits::types::CryptoError;

    fn request(response_pk: &[u8]) -> ConnectionRequest {
        let credential: Credential =
            BasicCredential::new(b"mimi://a.example/d/alice/1".to_vec()).into();
        ConnectionRequest {
            requester_client_credential: encode(&credential).unwrap().into(),
            requester_client_signature_key: vec![5u8; 32].into(),
            connection_room_id: b"room-1".to_vec().into(),
            connection_room_identity_link_wrapper_key: vec![6u8; 32].into(),
            requester_connection_key: vec![7u8; 32].into(),
            connection_response_key: response_pk.into(),
        }
    }

    #[test]
    fn connection_request_and_response_round_trip() {
        let responder = HpkeKeys::derive(&[1; 32]).unwrap();
        let response_keys = HpkeKeys::derive(&[2; 32]).unwrap();
        let stranger = HpkeKeys::derive(&[3; 32]).unwrap();
        let req = request(&response_keys.public);

        let sealed = seal_connection_request([9; 32], &responder.public, &req).unwrap();
        assert_eq!(
            sealed,
            seal_connection_request([9; 32], &responder.public, &req).unwrap()
        );
        assert_ne!(
            sealed,
            seal_connection_request([10; 32], &responder.public, &req).unwrap()
        );
        let opened = open_connection_request(&responder.private, sealed.as_slice()).unwrap();
        assert_eq!(opened, req);
        assert_eq!(
            opened.requester_credential().unwrap(),
            BasicCredential::new(b"mimi://a.example/d/alice/1".to_vec()).into()
        );
        assert_eq!(
            opened.requester_connection_key().unwrap(),
            ConnectionKey([7; 32])
        );
        assert_eq!(
            opened.wrapper_key().unwrap(),
            IdentityLinkWrapperKey([6; 32])
        );
        assert!(matches!(
            open_connection_request(&stranger.private, sealed.as_slice()),
            Err(ProtocolError::Crypto(CryptoError::HpkeDecryptionError))
        ));

        let resp = ConnectionResponse::new(&ConnectionKey([8; 32]));
        let sealed_resp =
            seal_connection_response([11; 32], opened.connection_response_key.as_slice(), &resp)
                .unwrap();
        assert_eq!(
            sealed_resp,
            seal_connection_response([11; 32], &response_keys.public, &resp).unwrap()
        );
        let opened_resp =
            open_connection_response(&response_keys.private, sealed_resp.as_slice()).unwrap();
        assert_eq!(opened_resp, resp);
        assert_eq!(
            opened_resp.responder_connection_key().unwrap(),
            ConnectionKey([8; 32])
        );
        assert!(open_connection_response(&stranger.private, sealed_resp.as_slice()).is_err());
    }

    #[test]
    fn a_request_does_not_open_as_a_response() {
        // Distinct HPKE info labels: a ciphertext cannot be replayed as the other message.
        let keys = HpkeKeys::derive(&[1; 32]).unwrap();
        let sealed =
            seal_connection_request([9; 32], &keys.public, &request(&keys.public)).unwrap();
        assert!(open_connection_response(&keys.private, sealed.as_slice()).is_err());
    }
}
