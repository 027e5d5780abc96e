//! Connections between users: MIMI consent in clear, or the MIMIMI connection flow (MIMIMI
//! -01 "Connections"): the requester fetches the responder's connection-establishment key,
//! creates a connection room at its own provider, and seals a ConnectionRequest to the
//! responder; the responder joins the connection room by external commit, with its sealed
//! ConnectionResponse in the commit's AAD. Both then hold each other's connection keys.

use std::collections::VecDeque;

use openmls::prelude::Credential;
use openmls_traits::OpenMlsProvider;
use tls_codec::Serialize as _;

use super::wire::{self, Wire};
use super::{draw32, Op, Purpose, Queued, SimError, Step, World};
use crate::crypto::HpkeKeys;
use crate::protocol::{
    self, ConnectionKey, ConnectionRequest, ConnectionResponse, PseudonymousCredential,
};

impl World<'_> {
    /// A `connect` action.
    pub(super) fn connect(&mut self, from: usize, to: usize) -> Result<(), SimError> {
        let actor = self.users[from].clients[0];
        if !self.mech.encrypted_connection_requests {
            let extensions = self.sealed_connection_key(actor, to)?;
            let msg = Wire::ConsentRequest(wire::Consent {
                operation: wire::consent_operation::REQUEST,
                requester: self.users[from].uri.clone(),
                target: self.users[to].uri.clone(),
                room: None,
                key_packages: vec![],
                extensions,
            });
            self.client_to_home(actor, &msg);
            return Ok(());
        }
        let k = self
            .rooms
            .iter()
            .filter(|r| r.purpose == Purpose::Connection)
            .count();
        let hub = self.users[from].provider;
        let room = self.add_room(format!("connection-{}", k + 1), hub, Purpose::Connection);
        let mut steps = vec![];
        if self.users[from].clients.len() > 1 {
            steps.push(Step::Claim(vec![from]));
        }
        steps.extend([Step::Create, Step::CommitAdds, Step::RequestConnection(to)]);
        self.enqueue(room, Queued::Op(Box::new(Op::new(None, actor, steps))))
    }

    /// With pseudonyms but without encrypted connection requests, the consent messages carry
    /// the sender's connection key sealed to the other user's connection-establishment key
    /// (looked up in the providers' directory), in a consent extension.
    fn sealed_connection_key(
        &mut self,
        client: usize,
        to: usize,
    ) -> Result<Vec<wire::ComponentData>, SimError> {
        // Connection keys serve identity links and KeyPackage tokens.
        if !self.mech.pseudonymous_credentials && !self.mech.anonymous_key_packages {
            return Ok(vec![]);
        }
        let me = self.clients[client].user;
        let response = ConnectionResponse::new(&self.users[me].connection_key);
        let seed = draw32(&mut self.clients[client].rng);
        Ok(vec![wire::ComponentData {
            component_id: wire::SEALED_CONNECTION_KEY_COMPONENT,
            data: protocol::seal_connection_response(
                seed,
                &self.users[to].establishment.public,
                &response,
            )?,
        }])
    }

    /// Whether `responder` accepts the request of `requester` that has just arrived: the
    /// decision of the earliest `connect` of the pair not yet answered (requests of one pair
    /// travel the same path, so they arrive in the order they were made).
    fn decide(&mut self, requester: usize, responder: usize) -> bool {
        self.decisions
            .get_mut(&(requester, responder))
            .and_then(VecDeque::pop_front)
            .unwrap_or(true)
    }

    /// Records a connection key received from `other`.
    fn learn_contact(
        &mut self,
        me: usize,
        other: usize,
        sealed: Option<&tls_codec::VLBytes>,
    ) -> Result<(), SimError> {
        if let Some(sealed) = sealed {
            let r = protocol::open_connection_response(
                &self.users[me].establishment.private,
                sealed.as_slice(),
            )?;
            let key = r.responder_connection_key()?;
            self.users[me].contacts.insert(other, key);
        }
        Ok(())
    }

    /// MIMI consent: the target's first client grants it (an `updateConsent` with a grant),
    /// or ignores the request.
    pub(super) fn consent_requested(
        &mut self,
        client: usize,
        m: wire::Consent,
    ) -> Result<(), SimError> {
        let (requester, me) = (self.user_by_uri(&m.requester)?, self.clients[client].user);
        if !self.decide(requester, me) {
            return Ok(());
        }
        self.learn_contact(me, requester, m.sealed_connection_key())?;
        let extensions = self.sealed_connection_key(client, requester)?;
        let answer = Wire::ConsentResponse(wire::Consent {
            operation: wire::consent_operation::GRANT,
            extensions,
            ..m
        });
        self.client_to_home(client, &answer);
        Ok(())
    }

    /// MIMI consent: the requester learns of the grant.
    pub(super) fn consent_answered(&mut self, m: wire::Consent) -> Result<(), SimError> {
        if m.operation != wire::consent_operation::GRANT {
            return Ok(());
        }
        let (a, b) = (
            self.user_by_uri(&m.requester)?,
            self.user_by_uri(&m.target)?,
        );
        self.learn_contact(a, b, m.sealed_connection_key())?;
        self.connection_made(a, b);
        Ok(())
    }

    /// A connection is complete: both users hold each other's connection keys (and, with
    /// connection rooms, both are in theirs). Operations waiting for it resume.
    fn connection_made(&mut self, requester: usize, responder: usize) {
        self.connections.push((
            self.users[requester].name.clone(),
            self.users[responder].name.clone(),
        ));
        self.stats.connections += 1;
        self.connected
            .insert((requester.min(responder), requester.max(responder)));
        for room in 0..self.rooms.len() {
            if matches!(
                self.rooms[room].op.as_ref().and_then(|op| op.steps.front()),
                Some(Step::Await(_))
            ) {
                self.wake.insert(room);
            }
        }
    }

    /// The connection room exists with all the requester's clients: fetch the responder's
    /// connection-establishment key (anonymously: the fetch must not tie the requester to
    /// the responder).
    pub(super) fn send_connection_request(
        &mut self,
        actor: usize,
        responder: usize,
    ) -> Result<(), SimError> {
        let msg = Wire::EstablishmentKeyFetch(wire::EstablishmentKeyFetch {
            user: self.users[responder].uri.clone(),
        });
        let target = self.users[responder].provider;
        self.send_anonymous(actor, target, &msg);
        Ok(())
    }

    /// The key arrived: seal the ConnectionRequest and deliver it to the responder's inbox.
    pub(super) fn establishment_key_received(
        &mut self,
        client: usize,
        m: wire::EstablishmentKeyResponse,
    ) -> Result<(), SimError> {
        let responder = self.user_by_uri(&m.user)?;
        let room = self
            .rooms
            .iter()
            .position(|r| {
                r.op.as_ref().is_some_and(|op| {
                    op.actor == client
                        && op.steps.front() == Some(&Step::RequestConnection(responder))
                })
            })
            .ok_or_else(|| {
                SimError::Protocol("a connection-establishment key nobody asked for".into())
            })?;
        let me = self.clients[client].user;
        let response_keys =
            HpkeKeys::derive(&draw32(&mut self.clients[client].rng)).expect("X25519 derivation");
        self.connection_secrets
            .insert((me, responder), response_keys.private.clone());
        let c = &self.clients[client];
        let wrapper = c.groups[&room]
            .wrapper
            .map(|w| w.0.to_vec())
            .unwrap_or_default();
        let request = ConnectionRequest {
            requester_client_credential: c
                .cwk
                .credential
                .tls_serialize_detached()
                .map_err(super::mls::mls_err("encode a credential"))?
                .into(),
            requester_client_signature_key: c.signer.public().to_vec().into(),
            connection_room_id: self.rooms[room].uri.clone().into_bytes().into(),
            connection_room_identity_link_wrapper_key: wrapper.into(),
            requester_connection_key: self.users[me].connection_key.0.to_vec().into(),
            connection_response_key: response_keys.public.into(),
        };
        let seed = draw32(&mut self.clients[client].rng);
        let sealed = protocol::seal_connection_request(seed, m.key.as_slice(), &request)?;
        let msg = Wire::ConnectionRequestDelivery(wire::ConnectionRequestDelivery {
            target: self.users[responder].uri.clone(),
            sealed,
        });
        let target = self.users[responder].provider;
        self.send_anonymous(client, target, &msg);
        self.step_done(room)
    }

    /// The responder opens a ConnectionRequest and accepts: it joins the connection room.
    pub(super) fn connection_request_received(
        &mut self,
        client: usize,
        m: wire::ConnectionRequestDelivery,
    ) -> Result<(), SimError> {
        let me = self.clients[client].user;
        let request = protocol::open_connection_request(
            &self.users[me].establishment.private,
            m.sealed.as_slice(),
        )?;
        let credential = request.requester_credential()?;
        let uri = super::mls::credential_uri(&credential)?;
        let requester_client = *self.client_index.get(&uri).ok_or_else(|| {
            SimError::Protocol(format!("a connection request from unknown {uri}"))
        })?;
        let requester = self.clients[requester_client].user;
        if !self.decide(requester, me) {
            // Declining is ignoring: the requester's connection room stays without us.
            return Ok(());
        }
        self.users[me]
            .contacts
            .insert(requester, request.requester_connection_key()?);
        let room_uri = String::from_utf8(request.connection_room_id.as_slice().to_vec())
            .map_err(|_| SimError::Protocol("a connection room id that is not a URI".into()))?;
        let room = self.room_by_uri(&room_uri)?;
        let mut op = self.join_op(None, room, me);
        op.answering = Some((requester, request));
        self.enqueue(room, Queued::Op(Box::new(op)))
    }

    /// A requester's client reads the ConnectionResponse in the responder's external commit.
    pub(super) fn connection_answered(
        &mut self,
        client: usize,
        sealed: &[u8],
    ) -> Result<(), SimError> {
        let me = self.clients[client].user;
        let pending: Vec<usize> = self
            .connection_secrets
            .keys()
            .filter(|(r, _)| *r == me)
            .map(|&(_, x)| x)
            .collect();
        for responder in pending {
            let sk = self.connection_secrets[&(me, responder)].clone();
            if let Ok(r) = protocol::open_connection_response(&sk, sealed) {
                let key: ConnectionKey = r.responder_connection_key()?;
                self.users[me].contacts.insert(responder, key);
                self.connection_secrets.remove(&(me, responder));
                self.connection_made(me, responder);
                return Ok(());
            }
        }
        Ok(())
    }

    /// Whether a leaf in `client`'s view of `room` is authenticated as a client of `user`
    /// (its identity link decrypts to one of `user`'s client URIs).
    pub(super) fn leaf_belongs_to(
        &self,
        client: usize,
        room: usize,
        credential: &Credential,
        key: &[u8],
        user: usize,
    ) -> bool {
        let c = &self.clients[client];
        let Ok(pc) = PseudonymousCredential::from_mls_credential(credential) else {
            return super::mls::credential_uri(credential)
                .ok()
                .and_then(|u| self.client_index.get(&u).copied())
                .is_some_and(|x| self.clients[x].user == user);
        };
        let Some(link) = c.groups.get(&room).and_then(|m| m.link_keys.get(key)) else {
            return false;
        };
        pc.authenticate(c.mls.crypto(), link, key)
            .ok()
            .and_then(|id| self.client_index.get(&id.client_uri).copied())
            .is_some_and(|x| self.clients[x].user == user)
    }
}
