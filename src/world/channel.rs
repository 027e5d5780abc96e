//! The anonymous channel. MIMIMI needs some requests not to be tied to the account (KeyPackage
//! upload and fetch, connection-key fetch, delivery of a connection request, GroupInfo fetch
//! for an external join) and leaves open how. The simulator models three channels:
//!
//! - `relay` (default): the sender's own provider forwards a request HPKE-sealed to the target
//!   provider, in the manner of Oblivious HTTP. It sees the account, the target domain, the
//!   size and the time; the target sees the content and the relaying domain; answers come back
//!   the same way, sealed to a fresh key. A request for the sender's own provider (every
//!   KeyPackage upload) cannot be relayed by that provider without tying it to the account:
//!   it goes through another provider acting as the relay (the scenario's `relay`, else the
//!   first other provider), which the client reaches without an account, and the answer
//!   comes back through it. With no other provider, such a request travels on the account's
//!   session and is recorded with the account.
//! - `direct`: a perfect anonymous channel; the target sees `anonymous`, nobody else anything.
//! - `none`: the naive deployment; the own provider relays in clear and reads everything.
//!
//! Anything below the application layer (IP addresses) is out of scope.

use tls_codec::{Deserialize as _, Serialize as _};

use super::wire::{self, Wire};
use super::{draw32, Endpoint, Reply, SimError, World};
use crate::crypto::{hpke_open, hpke_seal_seeded, HpkeKeys};
use crate::observe::Peer;
use crate::scenario::Channel;

const RELAY_INFO: &[u8] = b"MIMIMI relayed request";
const RELAY_RESPONSE_INFO: &[u8] = b"MIMIMI relayed response";

impl World<'_> {
    /// Sends a request from `client` to provider `target` over this mode's anonymous channel.
    /// Under `padding` the request is padded before it goes into an envelope (the target
    /// observes it as padded) and the envelope again; under `jitter` it leaves after an extra
    /// delay.
    pub(super) fn send_anonymous(&mut self, client: usize, target: usize, msg: &Wire) {
        let domain = self.providers[target].domain.clone();
        let plain = msg.to_bytes();
        let (request, request_padding) = self.pad_out(plain.clone());
        match self.channel {
            Channel::None => self.forward_on_session(client, domain, request, plain),
            Channel::Direct => {
                let extra = self.jitter_delay(client);
                self.send_to_provider(
                    extra,
                    target,
                    Peer::Anonymous,
                    Endpoint::TargetIn,
                    Some(Reply::Direct(client)),
                    request,
                    request_padding,
                    vec![],
                );
            }
            Channel::Relay => {
                let home = self.users[self.clients[client].user].provider;
                let third_party = if target == home {
                    match self.relay_for(home) {
                        Some(r) => Some(r),
                        None => {
                            // Nobody else to relay: on the session, with the account.
                            return self.forward_on_session(client, domain, request, plain);
                        }
                    }
                } else {
                    None
                };
                let c = &mut self.clients[client];
                let response = HpkeKeys::derive(&draw32(&mut c.rng)).expect("X25519 derivation");
                let seed = draw32(&mut c.rng);
                c.relay_keys.push(response.clone());
                let target_key = &self.providers[target].keys.public;
                let relay = |request: Vec<u8>| {
                    let inner = wire::RelayedRequest {
                        response_key: response.public.clone().into(),
                        request: request.into(),
                    };
                    let sealed = hpke_seal_seeded(
                        seed,
                        target_key,
                        RELAY_INFO,
                        b"",
                        &inner
                            .tls_serialize_detached()
                            .expect("relayed requests serialize"),
                    )
                    .expect("HPKE seal to a provider key");
                    Wire::Relay(wire::Relay {
                        target: domain.clone(),
                        sealed: sealed
                            .tls_serialize_detached()
                            .expect("HPKE ciphertexts serialize")
                            .into(),
                    })
                };
                let r = relay(request);
                // The same envelope around the request without padding, sealed alike: how
                // much of the envelope the request's padding makes.
                let nested = self.nested_padding(&r, || relay(plain));
                match third_party {
                    None => self.client_to_home_padded(client, &r, nested),
                    Some(relay) => {
                        // Straight to the relay, without an account.
                        let extra = self.jitter_delay(client);
                        let (bytes, padding) = self.pad_out(r.to_bytes());
                        self.send_to_provider(
                            extra,
                            relay,
                            Peer::Anonymous,
                            Endpoint::RelayIn,
                            Some(Reply::Direct(client)),
                            bytes,
                            padding.saturating_add(nested),
                            vec![],
                        );
                    }
                }
            }
        }
    }

    /// Under `padding`: how many bytes of the envelope `padded` (around a padded request) the
    /// request's padding makes, against `unpadded`, the same envelope around the request
    /// without padding (built only under `padding`). 0 without `padding`.
    /// Hands a request to the client's own provider on its session, in clear, to forward to
    /// `domain` (`request` padded as the mode pads, `plain` without padding, for the count).
    fn forward_on_session(
        &mut self,
        client: usize,
        domain: String,
        request: Vec<u8>,
        plain: Vec<u8>,
    ) {
        let f = Wire::Forward(wire::Forward {
            target: domain.clone(),
            request: request.into(),
        });
        let nested = self.nested_padding(&f, || {
            Wire::Forward(wire::Forward {
                target: domain,
                request: plain.into(),
            })
        });
        self.client_to_home_padded(client, &f, nested);
    }

    fn nested_padding(&self, padded: &Wire, unpadded: impl FnOnce() -> Wire) -> u64 {
        if !self.mech.padding {
            return 0;
        }
        let with = padded.to_bytes().len() as u64;
        with.saturating_sub(unpadded().to_bytes().len() as u64)
    }

    /// A `Forward` or `Relay` envelope arrives at the sender's own provider, as `bytes`.
    pub(super) fn at_relay(
        &mut self,
        home: usize,
        peer: Peer,
        reply: Option<Reply>,
        msg: &Wire,
        bytes: Vec<u8>,
        items: Vec<crate::observe::Item>,
    ) -> Result<(), SimError> {
        let client = reply
            .as_ref()
            .map(Reply::client)
            .ok_or_else(|| SimError::Protocol("a relayed request without a sender".into()))?;
        match msg {
            Wire::Forward(f) => {
                let target = self.domain_index_of(&f.target)?;
                let inner = f.request.as_slice().to_vec();
                // What goes on is the request as the client padded it.
                self.inbound_padding = wire::padding_of(&inner);
                if target == home {
                    // The request is for the own provider: it arrives on the account's session.
                    return self.at_provider(home, peer, Endpoint::TargetIn, reply, inner, vec![]);
                }
                // The own provider reads what it forwards, as if it came on the session.
                let inner_msg = Wire::from_bytes(&inner)?;
                let inner_items = self.envelope_items(home, &inner_msg, &peer, Endpoint::Home)?;
                self.record(home, &inner_msg, peer, inner.len(), inner_items.into_vec());
                self.provider_to(
                    home,
                    target,
                    Endpoint::TargetIn,
                    Some(Reply::Home(client)),
                    inner,
                );
                Ok(())
            }
            Wire::Relay(r) => {
                // The sender's own provider relays (a request for itself goes elsewhere).
                let target = self.domain_index_of(&r.target)?;
                self.record(home, msg, peer, bytes.len(), items);
                self.provider_to(
                    home,
                    target,
                    Endpoint::TargetIn,
                    Some(Reply::Home(client)),
                    bytes,
                );
                Ok(())
            }
            _ => Err(SimError::Protocol("not a relay envelope".into())),
        }
    }

    /// The provider that relays requests of `home`'s clients for `home` itself: the scenario's
    /// `relay`, unless it is `home`, else the first other provider; none if there is none.
    pub(super) fn relay_for(&self, home: usize) -> Option<usize> {
        let named = self
            .scenario
            .relay
            .as_deref()
            .and_then(|d| self.domain_index.get(d).copied());
        named
            .filter(|&r| r != home)
            .or_else(|| (0..self.providers.len()).find(|&p| p != home))
    }

    /// A provider relays a request of another provider's client for that provider, as the
    /// `bytes` arrived: it sees no account, only the target domain, the size and the time.
    pub(super) fn at_third_party_relay(
        &mut self,
        relay: usize,
        peer: Peer,
        reply: Option<Reply>,
        msg: &Wire,
        bytes: Vec<u8>,
        items: Vec<crate::observe::Item>,
    ) -> Result<(), SimError> {
        let Wire::Relay(r) = msg else {
            return Err(SimError::Protocol("not a relay envelope".into()));
        };
        let client = reply
            .as_ref()
            .map(Reply::client)
            .ok_or_else(|| SimError::Protocol("a relayed request without a sender".into()))?;
        let target = self.domain_index_of(&r.target)?;
        self.record(relay, msg, peer, bytes.len(), items);
        self.provider_to(
            relay,
            target,
            Endpoint::TargetIn,
            Some(Reply::Direct(client)),
            bytes,
        );
        Ok(())
    }

    /// A relayed request arrives at its target provider: it opens the request and handles it
    /// as a request of its own, answering through the relay.
    pub(super) fn open_relayed(
        &mut self,
        target: usize,
        peer: Peer,
        reply: Option<Reply>,
        r: &wire::Relay,
    ) -> Result<(), SimError> {
        let client = reply
            .as_ref()
            .map(Reply::client)
            .ok_or_else(|| SimError::Protocol("a relayed request without a sender".into()))?;
        let ct = openmls::prelude::HpkeCiphertext::tls_deserialize_exact(r.sealed.as_slice())?;
        let plain = hpke_open(&ct, &self.providers[target].keys.private, RELAY_INFO, b"")
            .map_err(|_| SimError::Protocol("a relayed request that does not open".into()))?;
        let inner = wire::RelayedRequest::tls_deserialize_exact(plain)?;
        let relay = match &peer {
            Peer::Domain(d) => self.domain_index_of(d)?,
            _ => return Err(SimError::Protocol("a relayed request from no relay".into())),
        };
        let reply = Reply::Relay {
            client,
            key: inner.response_key.as_slice().to_vec(),
            relay,
        };
        self.inbound_padding = wire::padding_of(inner.request.as_slice());
        self.at_provider(
            target,
            peer,
            Endpoint::TargetIn,
            Some(reply),
            inner.request.into(),
            vec![],
        )
    }

    /// Sends the answer to a request back the way the request came.
    pub(super) fn respond(&mut self, from: usize, reply: Reply, msg: &Wire) {
        let (client, bytes) = match reply {
            Reply::Direct(client) => return self.provider_to_client(client, msg.to_bytes()),
            Reply::Home(client) => (client, msg.to_bytes()),
            Reply::Relay { client, key, relay } => {
                let seed = draw32(&mut self.providers[from].rng);
                let sealed =
                    hpke_seal_seeded(seed, &key, RELAY_RESPONSE_INFO, b"", &msg.to_bytes())
                        .expect("HPKE seal to a response key");
                let r = Wire::RelayResponse(wire::RelayResponse {
                    sealed: sealed
                        .tls_serialize_detached()
                        .expect("HPKE ciphertexts serialize")
                        .into(),
                });
                let home = self.users[self.clients[client].user].provider;
                if relay != home {
                    // Back through the third-party relay.
                    return self.provider_to(
                        from,
                        relay,
                        Endpoint::RelayReturn,
                        Some(Reply::Direct(client)),
                        r.to_bytes(),
                    );
                }
                (client, r.to_bytes())
            }
        };
        let home = self.users[self.clients[client].user].provider;
        if home == from {
            self.provider_to_client(client, bytes);
        } else {
            self.provider_to(
                from,
                home,
                Endpoint::HomeReturn,
                Some(Reply::Home(client)),
                bytes,
            );
        }
    }

    /// A client opens a relayed answer with the response key it made for the request.
    pub(super) fn open_relay_response(
        &mut self,
        client: usize,
        r: &wire::RelayResponse,
    ) -> Result<Wire, SimError> {
        let ct = openmls::prelude::HpkeCiphertext::tls_deserialize_exact(r.sealed.as_slice())?;
        let c = &mut self.clients[client];
        // Newest first: most answers are to the latest request, and requests that are never
        // answered (uploads, registrations) leave their keys behind at the front.
        for i in (0..c.relay_keys.len()).rev() {
            if let Ok(plain) = hpke_open(&ct, &c.relay_keys[i].private, RELAY_RESPONSE_INFO, b"") {
                c.relay_keys.remove(i);
                return Ok(Wire::from_bytes(&plain)?);
            }
        }
        Err(SimError::Protocol(format!(
            "{} got a relayed answer it cannot open",
            c.uri
        )))
    }

    fn domain_index_of(&self, domain: &str) -> Result<usize, SimError> {
        self.domain_index
            .get(domain)
            .copied()
            .ok_or_else(|| SimError::Protocol(format!("unknown domain {domain}")))
    }
}
