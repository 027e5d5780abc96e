//! Providers and hubs: what a provider does with bytes that arrive at one of its endpoints,
//! and what it observes from them. The hub role follows each room it hosts with an openmls
//! `PublicGroup` over the handshake PublicMessages, keeps the members' encrypted identity link
//! keys, and fans messages out to follower providers.

use std::collections::{BTreeMap, BTreeSet};

use openmls::group::ProposalStore;
use openmls::prelude::tls_codec::Deserialize as _;
use openmls::prelude::{
    ContentType, LeafNode, Member, MlsMessageBodyIn, ProcessedMessageContent, Proposal,
    PublicGroup, Sender,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::VLBytes;

use super::mls::{self, mls_err};
use super::wire::{self, fanout_kind, Wire};
use super::{draw32, Endpoint, HubRoom, Reply, SimError, StoredSet, World};
use crate::observe::{digest, Items, Kind, Peer};
use crate::protocol::{self, AddAad, ExternalJoinAad};

/// The kind of a name a message carries for a user: a MIMI URI or a MIMIMI pseudonym.
fn name_kind(name: &str) -> Kind {
    if name.starts_with("mimi://") {
        Kind::UserId
    } else {
        Kind::UserPseudonym
    }
}

/// Adds a user's name as its own subject, with the session's account when the user is the
/// one who opened it.
fn user_subject(items: &mut Items, name: &str, account: Option<&str>) -> u32 {
    let s = items.subject();
    items.push(s, name_kind(name), name);
    if let Some(a) = account {
        items.push(s, Kind::Account, a);
    }
    s
}

impl World<'_> {
    /// Bytes arrive at provider `to` on `endpoint`.
    pub(super) fn at_provider(
        &mut self,
        to: usize,
        peer: Peer,
        endpoint: Endpoint,
        reply: Option<Reply>,
        bytes: Vec<u8>,
        local: Vec<usize>,
    ) -> Result<(), SimError> {
        let msg = Wire::from_bytes(&bytes)?;
        let mut items = self.envelope_items(to, &msg, &peer, endpoint)?;
        let unexpected = || {
            SimError::Protocol(format!(
                "{} arrived at the {endpoint:?} endpoint",
                msg.flow()
            ))
        };
        let reply_to = |r: &Option<Reply>| r.clone().ok_or_else(unexpected);
        match (endpoint, &msg) {
            (Endpoint::Home, Wire::Forward(_) | Wire::Relay(_)) => {
                return self.at_relay(to, peer, reply, &msg, bytes.clone(), items.into_vec());
            }
            (Endpoint::TargetIn, Wire::Relay(r)) => return self.open_relayed(to, peer, reply, r),
            (Endpoint::RelayIn, Wire::Relay(_)) => {
                return self.at_third_party_relay(
                    to,
                    peer,
                    reply,
                    &msg,
                    bytes.clone(),
                    items.into_vec(),
                );
            }
            (Endpoint::RelayReturn, Wire::RelayResponse(_)) => {
                let client = reply_to(&reply)?.client();
                self.provider_to_client(client, bytes.clone());
            }
            (Endpoint::Home, Wire::KeyPackageUpload(m)) => {
                let client = reply_to(&reply)?.client();
                let p = &mut self.providers[to];
                let stock = p.key_packages.entry(client).or_default();
                for kp in &m.key_packages {
                    let parsed = mls::parse_key_package(p.mls.crypto(), kp.as_slice())?;
                    if parsed.last_resort() {
                        stock.last_resort = Some(kp.as_slice().to_vec());
                    } else {
                        stock.regular.push_back(kp.as_slice().to_vec());
                    }
                }
            }
            (Endpoint::Home, Wire::KeyPackageDelete(m)) if m.token.as_slice().is_empty() => {
                let client = reply_to(&reply)?.client();
                self.providers[to].key_packages.remove(&client);
            }
            (Endpoint::Home, Wire::QueueRegistration(m)) => {
                let client = reply_to(&reply)?.client();
                self.providers[to]
                    .queues
                    .insert(m.queue_id.as_slice().to_vec(), client);
            }
            (Endpoint::Home, Wire::PseudonymRegistration(m)) => {
                let client = reply_to(&reply)?.client();
                self.providers[to]
                    .queues
                    .insert(m.client_pseudonym.as_bytes().to_vec(), client);
            }
            (Endpoint::Home, Wire::EstablishmentKeyPublish(m)) => {
                self.providers[to]
                    .establishment_keys
                    .insert(m.user.clone(), m.key.as_slice().to_vec());
            }
            (Endpoint::Home, Wire::ConsentRequest(m)) => {
                let target = self.domain_of_uri(&m.target)?;
                self.provider_to(to, target, Endpoint::TargetIn, reply, bytes.clone());
            }
            (Endpoint::Home, Wire::ConsentResponse(m)) => {
                let requester = self.domain_of_uri(&m.requester)?;
                self.provider_to(to, requester, Endpoint::TargetIn, reply, bytes.clone());
            }
            (
                Endpoint::Home,
                Wire::KeyPackageClaim(_)
                | Wire::CreateRoom(_)
                | Wire::Handshake(_)
                | Wire::GroupInfoRequest(_)
                | Wire::AppMessage(_),
            ) => {
                let hub = self.domain_of_uri(msg.room().ok_or_else(unexpected)?)?;
                self.provider_to(to, hub, Endpoint::HubIn, reply, bytes.clone());
            }
            (Endpoint::HubIn, Wire::KeyPackageClaim(m)) => {
                let target = self.domain_of_uri(&m.tbs.target)?;
                self.provider_to(to, target, Endpoint::TargetIn, reply, bytes.clone());
            }
            (Endpoint::HubIn, Wire::CreateRoom(m)) => {
                self.hub_create_room(to, m, &mut items)?;
                let ack = Wire::RoomAck(wire::RoomAck {
                    room: m.room.clone(),
                });
                let home = self.domain_of_uri(&m.creator)?;
                self.provider_to(to, home, Endpoint::HomeReturn, reply, ack.to_bytes());
            }
            (Endpoint::HubIn, Wire::Handshake(m)) => {
                let o = self.observation(to, &msg, peer.clone(), bytes.len(), vec![]);
                let at = self.observations.open(o);
                self.hub_handshake(to, m, &mut items)?;
                self.observations.complete(at, items.into_vec());
                return Ok(());
            }
            (Endpoint::HubIn | Endpoint::TargetIn, Wire::GroupInfoRequest(m)) => {
                let answer = self.answer_group_info(to, m)?;
                let reply = reply_to(&reply)?;
                if endpoint == Endpoint::HubIn {
                    let home = self.users[self.clients[reply.client()].user].provider;
                    self.provider_to(
                        to,
                        home,
                        Endpoint::HomeReturn,
                        Some(reply),
                        answer.to_bytes(),
                    );
                } else {
                    self.respond(to, reply, &answer);
                }
            }
            (Endpoint::HubIn, Wire::AppMessage(m))
                if !self.providers[to]
                    .hub
                    .contains_key(&self.room_by_uri(&m.room)?) =>
            {
                // The last members left while the message was on its way: the room is closed
                // and the hub refuses the message.
                self.stats.messages_rejected += 1;
            }
            (Endpoint::HubIn, Wire::AppMessage(m)) => {
                let room = self.room_by_uri(&m.room)?;
                let recipients = self.hub_recipients(to, room, |_| true)?;
                self.fan_out(
                    to,
                    &m.room,
                    fanout_kind::APPLICATION,
                    recipients,
                    vec![m.message.clone()],
                    vec![],
                );
            }
            (Endpoint::TargetIn, Wire::KeyPackageClaim(m)) => {
                protocol::verify_with_label(
                    self.providers[to].mls.crypto(),
                    m.tbs.requester_signature_key.as_slice(),
                    "KeyMaterialRequestTBS",
                    &mls::to_bytes(&m.tbs),
                    m.signature.as_slice(),
                )?;
                let answer = self.answer_claim(to, m)?;
                let hub = self.domain_of_uri(&m.tbs.room)?;
                self.provider_to(to, hub, Endpoint::HubReturn, reply, answer.to_bytes());
            }
            (Endpoint::TargetIn, Wire::ConsentRequest(m)) => {
                let target = self.user_by_uri(&m.target)?;
                let c = self.users[target].clients[0];
                self.provider_to_client(c, bytes.clone());
            }
            (Endpoint::TargetIn, Wire::ConsentResponse(m)) => {
                let requester = self.user_by_uri(&m.requester)?;
                let c = self.users[requester].clients[0];
                self.provider_to_client(c, bytes.clone());
            }
            (Endpoint::TargetIn, Wire::KeyPackageSetUpload(m)) => {
                let p = &mut self.providers[to];
                let mut kps = vec![];
                for k in &m.key_packages {
                    let kp = mls::parse_key_package(p.mls.crypto(), k.as_slice())?;
                    let r = kp
                        .hash_ref(p.mls.crypto())
                        .map_err(mls_err("hash a KeyPackage"))?;
                    kps.push((k.as_slice().to_vec(), r.as_slice().to_vec()));
                }
                let stock = p.sets.entry(m.token.as_slice().to_vec()).or_default();
                let label = m.set.as_slice().to_vec();
                let new = |key_packages| StoredSet {
                    label: label.clone(),
                    key_packages,
                };
                if m.last_resort == 1 {
                    // A new last-resort label replaces the current set.
                    match &mut stock.last_resort {
                        Some(s) if s.label == label => s.key_packages.extend(kps),
                        slot => *slot = Some(new(kps)),
                    }
                } else {
                    match stock.regular.iter_mut().find(|s| s.label == label) {
                        Some(s) => s.key_packages.extend(kps),
                        None => stock.regular.push(new(kps)),
                    }
                }
            }
            (Endpoint::TargetIn, Wire::KeyPackageDelete(m)) => {
                let refs: BTreeSet<&[u8]> =
                    m.key_package_refs.iter().map(VLBytes::as_slice).collect();
                if let Some(stock) = self.providers[to].sets.get_mut(m.token.as_slice()) {
                    for set in stock.regular.iter_mut().chain(stock.last_resort.as_mut()) {
                        set.key_packages
                            .retain(|(_, r)| !refs.contains(r.as_slice()));
                    }
                }
            }
            (Endpoint::TargetIn, Wire::KeyPackageSetList(m)) => {
                let stock = self.providers[to]
                    .sets
                    .entry(m.token.as_slice().to_vec())
                    .or_default();
                let summary = |s: &StoredSet, last_resort: u8| wire::KeyPackageSetSummary {
                    set: s.label.clone().into(),
                    last_resort,
                    key_package_refs: s
                        .key_packages
                        .iter()
                        .map(|(_, r)| VLBytes::from(r.clone()))
                        .collect(),
                };
                let sets = stock
                    .regular
                    .iter()
                    .map(|s| summary(s, 0))
                    .chain(stock.last_resort.iter().map(|s| summary(s, 1)))
                    .collect();
                let answer = Wire::KeyPackageSetListResponse(wire::KeyPackageSetListResponse {
                    token: m.token.clone(),
                    sets,
                });
                self.respond(to, reply_to(&reply)?, &answer);
            }
            (Endpoint::TargetIn, Wire::KeyPackageFetch(m)) => {
                let stock = self.providers[to]
                    .sets
                    .entry(m.token.as_slice().to_vec())
                    .or_default();
                // The oldest of the fullest regular sets (the provider cannot tell how many
                // clients a token's user has; the fullest sets are the complete ones), else
                // the last-resort set, which is handed out again and again.
                let fullest = stock.regular.iter().map(|s| s.key_packages.len()).max();
                let pick = fullest
                    .and_then(|n| stock.regular.iter().position(|s| s.key_packages.len() == n));
                let (last_resort, key_packages) = match pick {
                    Some(i) => (0, stock.regular.remove(i).key_packages),
                    None => (
                        1,
                        stock
                            .last_resort
                            .as_ref()
                            .map(|s| s.key_packages.clone())
                            .unwrap_or_default(),
                    ),
                };
                let answer = Wire::KeyPackageFetchResponse(wire::KeyPackageFetchResponse {
                    token: m.token.clone(),
                    last_resort,
                    key_packages: key_packages
                        .into_iter()
                        .map(|(k, _)| VLBytes::from(k))
                        .collect(),
                });
                self.respond(to, reply_to(&reply)?, &answer);
            }
            (Endpoint::TargetIn, Wire::EstablishmentKeyFetch(m)) => {
                let key = self.providers[to]
                    .establishment_keys
                    .get(&m.user)
                    .cloned()
                    .ok_or_else(|| {
                        SimError::Protocol(format!("{} has no published key", m.user))
                    })?;
                let answer = Wire::EstablishmentKeyResponse(wire::EstablishmentKeyResponse {
                    user: m.user.clone(),
                    key: key.into(),
                });
                self.respond(to, reply_to(&reply)?, &answer);
            }
            (Endpoint::TargetIn, Wire::ConnectionRequestDelivery(m)) => {
                let target = self.user_by_uri(&m.target)?;
                let c = self.users[target].clients[0];
                self.provider_to_client(c, bytes.clone());
            }
            (Endpoint::HubReturn, Wire::KeyPackageClaimResponse(_)) => {
                // The answer to the request the requester's provider made.
                let client = reply_to(&reply)?.client();
                let home = self.users[self.clients[client].user].provider;
                self.provider_to(to, home, Endpoint::HomeReturn, reply, bytes.clone());
            }
            (Endpoint::HomeReturn, _) => {
                let client = reply_to(&reply)?.client();
                self.provider_to_client(client, bytes.clone());
            }
            (Endpoint::FollowerIn, Wire::Fanout(m)) => {
                self.follower_reads(to, m, &mut items)?;
                let mut clients = local;
                for r in &m.pseudonym_recipients {
                    let c = *self.providers[to]
                        .queues
                        .get(r.as_bytes())
                        .ok_or_else(|| SimError::Protocol(format!("no queue for {r}")))?;
                    clients.push(c);
                }
                for sealed in &m.encrypted_recipients {
                    let p = &mut self.providers[to];
                    let queue = match p.opened_queue_ids.get(sealed.as_slice()) {
                        Some(q) => q.clone(),
                        None => {
                            let q = protocol::open_queue_id(&p.keys.private, sealed.as_slice())?;
                            p.opened_queue_ids
                                .insert(sealed.as_slice().to_vec(), q.clone());
                            q
                        }
                    };
                    let c = *self.providers[to].queues.get(&queue).ok_or_else(|| {
                        SimError::Protocol("an encrypted queue ID of no queue here".into())
                    })?;
                    let s = items.subject();
                    items.push(s, Kind::EncryptedQueueId, digest(sealed.as_slice()));
                    items.push(s, Kind::QueueId, hex::encode(&queue));
                    clients.push(c);
                }
                for c in clients {
                    if self.users[self.clients[c].user].provider != to {
                        return Err(SimError::Protocol(format!(
                            "{} is not a client of {}",
                            self.clients[c].uri, self.providers[to].domain
                        )));
                    }
                    self.provider_to_client(c, bytes.clone());
                }
            }
            _ => return Err(unexpected()),
        }
        self.record(to, &msg, peer, bytes.len(), items.into_vec());
        Ok(())
    }

    /// A follower provider follows the rooms its users are in: it starts from the room state
    /// the hub attaches to its first fanout, then processes every handshake with its own
    /// PublicGroup and records the leaves, as the hub does; it stops when none of its users is
    /// left. (The hub's own provider role reads nothing more than the hub already did.)
    fn follower_reads(
        &mut self,
        at: usize,
        m: &wire::Fanout,
        items: &mut Items,
    ) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.room)?;
        if self.rooms[room].hub == at {
            return Ok(());
        }
        // The state attached to a fanout is the room's after the messages in it: a commit in
        // it is already merged, proposals still apply.
        let fresh = m.room_state.is_some();
        if let Some(state) = &m.room_state {
            let group = follow_room(&self.providers[at].mls, state, items)?;
            self.stats.mls_operations += 1;
            self.providers[at].follows.insert(room, group);
        }
        if m.kind != fanout_kind::HANDSHAKE {
            return Ok(());
        }
        let domain = self.providers[at].domain.clone();
        let p = &mut self.providers[at];
        let Some(group) = p.follows.get_mut(&room) else {
            return Ok(());
        };
        for msg in &m.messages {
            let pm = mls::parse_message(msg.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read a handshake"))?;
            if fresh && pm.content_type() == ContentType::Commit {
                continue;
            }
            let processed = group
                .process_message(p.mls.crypto(), pm)
                .map_err(mls_err("follower processes a handshake"))?;
            self.stats.mls_operations += 1;
            match processed.into_content() {
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    commit_items(items, group, &staged)?;
                    group
                        .merge_commit(p.mls.storage(), *staged)
                        .map_err(mls_err("follower merges a commit"))?;
                }
                ProcessedMessageContent::ProposalMessage(q) => {
                    if let Proposal::Remove(r) = q.proposal() {
                        if let Some(leaf) = group.leaf(r.removed()) {
                            mls::leaf_node_items(items, leaf)?;
                        }
                    }
                    group
                        .add_proposal(p.mls.storage(), *q)
                        .map_err(mls_err("follower stores a proposal"))?;
                }
                _ => {
                    return Err(SimError::Protocol(
                        "a handshake fanout held another message".into(),
                    ))
                }
            }
        }
        let still_ours = group
            .members()
            .any(|mem| mls::leaf_domain(&mem.credential).is_ok_and(|d| d == domain));
        if !still_ours {
            if let Some(group) = p.follows.remove(&room) {
                PublicGroup::delete(p.mls.storage(), group.group_id())
                    .map_err(mls_err("forget a room's state"))?;
            }
        }
        Ok(())
    }

    /// The identifiers a provider reads from a message's envelope and KeyPackages.
    pub(super) fn envelope_items(
        &self,
        at: usize,
        msg: &Wire,
        peer: &Peer,
        endpoint: Endpoint,
    ) -> Result<Items, SimError> {
        let account = match (peer, endpoint) {
            (Peer::Account(a), Endpoint::Home | Endpoint::TargetIn) => Some(a.as_str()),
            _ => None,
        };
        let crypto = self.providers[at].mls.crypto();
        let mut items = Items::default();
        let key_packages = |items: &mut Items,
                            kps: &[VLBytes],
                            extra: &[(Kind, String)]|
         -> Result<(), SimError> {
            for kp in kps {
                let kp = mls::parse_key_package(crypto, kp.as_slice())?;
                let s = mls::key_package_items(items, crypto, &kp)?;
                for (k, v) in extra {
                    items.push(s, *k, v.clone());
                }
                if let Some(a) = account {
                    items.push(s, Kind::Account, a);
                }
            }
            Ok(())
        };
        match msg {
            Wire::KeyPackageUpload(m) => key_packages(&mut items, &m.key_packages, &[])?,
            Wire::KeyPackageClaim(m) => {
                // The requesting user with its client's credential and key, then the target.
                let s = user_subject(&mut items, &m.tbs.requester, account);
                let credential = mls::parse_credential(m.tbs.requester_credential.as_slice())?;
                mls::credential_items(&mut items, s, &credential)?;
                items.push(
                    s,
                    Kind::SignatureKey,
                    digest(m.tbs.requester_signature_key.as_slice()),
                );
                user_subject(&mut items, &m.tbs.target, None);
            }
            Wire::KeyPackageClaimResponse(m) => {
                let user = m.target.clone();
                for c in &m.clients {
                    let mut extra = vec![(Kind::UserId, user.clone())];
                    extra.push((Kind::ClientId, c.client.clone()));
                    match &c.key_package {
                        Some(kp) => key_packages(&mut items, std::slice::from_ref(kp), &extra)?,
                        None => {
                            let s = items.subject();
                            for (k, v) in extra {
                                items.push(s, k, v);
                            }
                        }
                    }
                }
            }
            Wire::ConsentRequest(m) => {
                user_subject(&mut items, &m.requester, account);
                user_subject(&mut items, &m.target, None);
            }
            Wire::ConsentResponse(m) => {
                user_subject(&mut items, &m.requester, None);
                user_subject(&mut items, &m.target, account);
            }
            Wire::CreateRoom(m) => {
                user_subject(&mut items, &m.creator, account);
            }
            Wire::Handshake(_) => {
                if let Some(a) = account {
                    items.single(Kind::Account, a);
                }
            }
            Wire::GroupInfoRequest(m) => {
                // The joining client's credential and key, with the session's account.
                let credential = mls::parse_credential(m.tbs.credential.as_slice())?;
                let s = items.subject();
                mls::credential_items(&mut items, s, &credential)?;
                items.push(
                    s,
                    Kind::SignatureKey,
                    digest(m.tbs.signature_key.as_slice()),
                );
                if let Some(a) = account {
                    items.push(s, Kind::Account, a);
                }
            }
            Wire::GroupInfoResponse(_) => {}
            Wire::AppMessage(m) => {
                let s = user_subject(&mut items, &m.sender, account);
                items.push(s, Kind::Message, digest(m.message.as_slice()));
            }
            Wire::Fanout(m) => {
                if m.kind == fanout_kind::APPLICATION {
                    for msg in &m.messages {
                        items.single(Kind::Message, digest(msg.as_slice()));
                    }
                }
                for r in &m.pseudonym_recipients {
                    items.single(Kind::ClientPseudonym, r.clone());
                }
            }
            Wire::QueueRegistration(m) => {
                let s = items.subject();
                items.push(s, Kind::QueueId, hex::encode(m.queue_id.as_slice()));
                if let Some(a) = account {
                    items.push(s, Kind::Account, a);
                }
            }
            Wire::PseudonymRegistration(m) => {
                let s = items.subject();
                items.push(s, Kind::ClientPseudonym, m.client_pseudonym.clone());
                if let Some(a) = account {
                    items.push(s, Kind::Account, a);
                }
            }
            Wire::EstablishmentKeyPublish(m) => {
                let s = user_subject(&mut items, &m.user, account);
                items.push(s, Kind::EstablishmentKey, digest(m.key.as_slice()));
            }
            Wire::EstablishmentKeyFetch(m) => {
                user_subject(&mut items, &m.user, None);
                if let Some(a) = account {
                    items.single(Kind::Account, a);
                }
            }
            Wire::EstablishmentKeyResponse(m) => {
                let s = user_subject(&mut items, &m.user, None);
                items.push(s, Kind::EstablishmentKey, digest(m.key.as_slice()));
            }
            Wire::ConnectionRequestDelivery(m) => {
                user_subject(&mut items, &m.target, None);
                if let Some(a) = account {
                    items.single(Kind::Account, a);
                }
            }
            Wire::KeyPackageSetUpload(m) => {
                let extra = [
                    (Kind::ConnectionToken, digest(m.token.as_slice())),
                    (Kind::KeyPackageSet, digest(m.set.as_slice())),
                ];
                key_packages(&mut items, &m.key_packages, &extra)?;
            }
            Wire::KeyPackageFetch(m) => {
                let s = items.subject();
                items.push(s, Kind::ConnectionToken, digest(m.token.as_slice()));
                if let Some(a) = account {
                    items.single(Kind::Account, a);
                }
            }
            Wire::KeyPackageSetList(m) => {
                // From the user's own client: the account, if the request came on a session,
                // belongs with the token.
                let s = items.subject();
                items.push(s, Kind::ConnectionToken, digest(m.token.as_slice()));
                if let Some(a) = account {
                    items.push(s, Kind::Account, a);
                }
            }
            Wire::KeyPackageSetListResponse(m) => {
                let s = items.subject();
                items.push(s, Kind::ConnectionToken, digest(m.token.as_slice()));
                for set in &m.sets {
                    items.push(s, Kind::KeyPackageSet, digest(set.set.as_slice()));
                    for r in &set.key_package_refs {
                        items.push(s, Kind::KeyPackageRef, digest(r.as_slice()));
                    }
                }
            }
            Wire::KeyPackageFetchResponse(m) => {
                let extra = [(Kind::ConnectionToken, digest(m.token.as_slice()))];
                key_packages(&mut items, &m.key_packages, &extra)?;
            }
            Wire::KeyPackageDelete(m) => {
                let s = items.subject();
                if !m.token.as_slice().is_empty() {
                    items.push(s, Kind::ConnectionToken, digest(m.token.as_slice()));
                }
                for r in &m.key_package_refs {
                    items.push(s, Kind::KeyPackageRef, digest(r.as_slice()));
                }
                if let Some(a) = account {
                    items.push(s, Kind::Account, a);
                }
            }
            Wire::Relay(m) => {
                items.single(Kind::Domain, m.target.clone());
                if let Some(a) = account {
                    items.single(Kind::Account, a);
                }
            }
            Wire::Forward(_) | Wire::RelayResponse(_) | Wire::RoomAck(_) => {}
            // `Wire::from_bytes` takes the envelope off before anything is read.
            Wire::Padded(_) => {
                return Err(SimError::Protocol("a padding envelope left on".into()));
            }
        }
        Ok(items)
    }

    /// The target's provider hands out one KeyPackage per client of the target: a regular one
    /// while any is left, else the client's last-resort KeyPackage (MIMI claim).
    fn answer_claim(&mut self, at: usize, m: &wire::KeyPackageClaim) -> Result<Wire, SimError> {
        use wire::key_material_code as code;
        let target = self.user_by_uri(&m.tbs.target)?;
        let mut clients = vec![];
        for c in self.users[target].clients.clone() {
            let stock = self.providers[at].key_packages.entry(c).or_default();
            let key_package = if let Some(kp) = stock.regular.pop_front() {
                Some(kp)
            } else if let Some(kp) = &stock.last_resort {
                self.stats.last_resort_claims += 1;
                Some(kp.clone())
            } else {
                None
            };
            clients.push(wire::ClientKeyMaterial {
                status: if key_package.is_some() {
                    code::SUCCESS
                } else {
                    code::EXHAUSTED
                },
                client: self.clients[c].uri.clone(),
                key_package: key_package.map(VLBytes::from),
            });
        }
        let served = clients.iter().filter(|c| c.key_package.is_some()).count();
        Ok(Wire::KeyPackageClaimResponse(
            wire::KeyPackageClaimResponse {
                protocol: wire::PROTOCOL_MLS10,
                user_status: match served {
                    0 => code::NO_MATERIAL,
                    n if n == clients.len() => code::SUCCESS,
                    _ => code::PARTIAL_SUCCESS,
                },
                target: m.tbs.target.clone(),
                clients,
            },
        ))
    }

    /// The hub's answer to a GroupInfo request: the latest GroupInfo, its tree, and the
    /// members' encrypted identity link keys.
    fn answer_group_info(
        &mut self,
        at: usize,
        m: &wire::GroupInfoRequest,
    ) -> Result<Wire, SimError> {
        let p = &self.providers[at];
        protocol::verify_with_label(
            p.mls.crypto(),
            m.tbs.signature_key.as_slice(),
            "GroupInfoRequestTBS",
            &mls::to_bytes(&m.tbs),
            m.signature.as_slice(),
        )?;
        let room = self.room_by_uri(&m.tbs.room)?;
        let hub = p.hub.get(&room).ok_or_else(|| {
            SimError::Protocol(format!("room {} has no members left to join", m.tbs.room))
        })?;
        let tbe = wire::GroupInfoRatchetTreeTbe {
            group_info: hub.group_info.clone().into(),
            ratchet_tree: mls::to_bytes(&hub.group.export_ratchet_tree()).into(),
            pending_proposals: vec![],
            link_keys: link_keys(hub),
        };
        let seed = draw32(&mut self.providers[at].rng);
        let p = &self.providers[at];
        let tbs = wire::GroupInfoResponseTbs {
            protocol: wire::PROTOCOL_MLS10,
            room: m.tbs.room.clone(),
            status: 1,
            ciphersuite: u16::from(mls::CIPHERSUITE),
            hub_signature_key: p.signer.public().to_vec().into(),
            hub_credential: mls::to_bytes(&p.credential).into(),
            encrypted: protocol::encrypt_with_label(
                seed,
                m.tbs.group_info_key.as_slice(),
                super::client::GROUP_INFO_LABEL,
                m.tbs.room.as_bytes(),
                &mls::to_bytes(&tbe),
            )?,
        };
        let signature =
            protocol::sign_with_label(&p.signer, "GroupInfoResponseTBS", &mls::to_bytes(&tbs))?;
        Ok(Wire::GroupInfoResponse(wire::GroupInfoResponse {
            tbs,
            signature: signature.into(),
        }))
    }

    /// The clients (by index) the hub's PublicGroup of `room` lists (ground truth, for the
    /// membership record).
    pub(super) fn hub_member_clients(
        &self,
        hub: usize,
        room: usize,
    ) -> Result<BTreeSet<usize>, SimError> {
        let Some(h) = self.providers[hub].hub.get(&room) else {
            return Ok(BTreeSet::new());
        };
        h.group
            .members()
            .map(|m| {
                self.clients
                    .iter()
                    .position(|c| c.signers.contains_key(&m.signature_key))
                    .ok_or_else(|| SimError::Protocol("a leaf of no known client".into()))
            })
            .collect()
    }

    /// Where the hub sends a room's messages: per follower domain, the client URIs (MIMI) or
    /// the sealed queue IDs from the leaves (MIMIMI) of the members `keep` selects.
    fn hub_recipients(
        &self,
        hub: usize,
        room: usize,
        keep: impl Fn(&Member) -> bool,
    ) -> Result<Recipients, SimError> {
        let h = self.providers[hub].hub.get(&room).ok_or_else(|| {
            SimError::Protocol(format!(
                "{} hosts no room {}",
                self.providers[hub].domain, self.rooms[room].name
            ))
        })?;
        let mut out = Recipients::default();
        for m in h.group.members().filter(|m| keep(m)) {
            let domain = mls::leaf_domain(&m.credential)?;
            let p = self.domain_of_uri(&format!("x@{domain}"))?;
            let leaf = h
                .group
                .leaf(m.index)
                .ok_or_else(|| SimError::Protocol("a member without a leaf".into()))?;
            let address = match protocol::queue_id_from_leaf_extensions(leaf.extensions()) {
                Some(sealed) => Address::Sealed(sealed.into()),
                None => {
                    let a = mls::leaf_address(&m.credential)?;
                    match self.client_index.get(&a) {
                        // A real credential: the provider knows its own client.
                        Some(&c) => Address::Local(c),
                        None => Address::Pseudonym(a),
                    }
                }
            };
            out.0.entry(p).or_default().push(address);
        }
        Ok(out)
    }

    /// A new room: the hub starts following it from the creator's GroupInfo and tree.
    fn hub_create_room(
        &mut self,
        at: usize,
        m: &wire::CreateRoom,
        items: &mut Items,
    ) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.room)?;
        let vgi = match mls::parse_message(m.group_info.as_slice())?.extract() {
            MlsMessageBodyIn::GroupInfo(g) => g,
            _ => {
                return Err(SimError::Protocol(
                    "room creation without a GroupInfo".into(),
                ))
            }
        };
        let tree = mls::parse_tree(m.ratchet_tree.as_slice())?;
        let p = &self.providers[at];
        let (group, _) = PublicGroup::from_external(
            p.mls.crypto(),
            p.mls.storage(),
            tree,
            vgi,
            ProposalStore::new(),
        )
        .map_err(mls_err("follow a new room"))?;
        self.stats.mls_operations += 1;
        for member in group.members() {
            if let Some(leaf) = group.leaf(member.index) {
                mls::leaf_node_items(items, leaf)?;
            }
        }
        self.providers[at].hub.insert(
            room,
            HubRoom {
                group,
                group_info: m.group_info.as_slice().to_vec(),
                link_keys: m
                    .link_keys
                    .iter()
                    .map(|k| (k.signature_key.as_slice().to_vec(), k.encrypted_key.clone()))
                    .collect(),
                followers: BTreeSet::new(),
            },
        );
        let after = self.hub_member_clients(at, room)?;
        self.update_memberships(room, &BTreeSet::new(), &after);
        Ok(())
    }

    /// The hub processes submitted handshakes with its PublicGroup, records the leaves they
    /// add, update or remove, keeps the identity link keys in their AAD, and fans them out
    /// (with any Welcome) to follower providers.
    fn hub_handshake(
        &mut self,
        at: usize,
        m: &wire::Handshake,
        items: &mut Items,
    ) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.room)?;
        let before = self.hub_member_clients(at, room)?;
        let mut recipients: Option<Recipients> = None;
        let mut committed = false;
        let mut added_keys: Vec<Vec<u8>> = vec![];
        for msg in &m.messages {
            let pm = mls::parse_message(msg.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read a handshake"))?;
            let processed = {
                let p = &self.providers[at];
                let hub = p
                    .hub
                    .get(&room)
                    .ok_or_else(|| SimError::Protocol(format!("no hub state for {}", m.room)))?;
                hub.group
                    .process_message(p.mls.crypto(), pm)
                    .map_err(mls_err("hub processes a handshake"))?
            };
            self.stats.mls_operations += 1;
            let sender = match processed.sender() {
                Sender::Member(i) => Some(*i),
                _ => None,
            };
            if recipients.is_none() {
                // Every provider with members gets the handshake (MIMI -06 section 5.5), the
                // committer's own included: it follows the room's epochs for its other
                // clients, and delivers to every member but the sender.
                let mut r = self.hub_recipients(at, room, |m| Some(m.index) != sender)?;
                r.include_providers(self.hub_recipients(at, room, |_| true)?);
                recipients = Some(r);
            }
            let aad = processed.aad().to_vec();
            let p = &mut self.providers[at];
            let hub = p.hub.get_mut(&room).expect("checked above");
            match processed.into_content() {
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    let (added, path_leaf) = commit_items(items, &hub.group, &staged)?;
                    added_keys.extend(added.iter().cloned());
                    for rem in staged.remove_proposals() {
                        if let Some(leaf) = hub.group.leaf(rem.remove_proposal().removed()) {
                            hub.link_keys.remove(leaf.signature_key().as_slice());
                        }
                    }
                    let path_leaf = path_leaf.map(|l| (l.signature_key().as_slice().to_vec(), l));
                    if !aad.is_empty() {
                        if sender.is_some() {
                            if let Ok(a) = AddAad::tls_deserialize_exact(&aad) {
                                for (k, e) in added.into_iter().zip(a.encrypted_identity_link_keys)
                                {
                                    hub.link_keys.insert(k, e);
                                }
                            }
                        } else if let (Ok(a), Some((k, _))) =
                            (ExternalJoinAad::tls_deserialize_exact(&aad), &path_leaf)
                        {
                            hub.link_keys
                                .insert(k.clone(), a.encrypted_identity_link_key);
                        }
                    }
                    hub.group
                        .merge_commit(p.mls.storage(), *staged)
                        .map_err(mls_err("hub merges a commit"))?;
                    committed = true;
                }
                ProcessedMessageContent::ProposalMessage(q) => {
                    if let Proposal::Remove(r) = q.proposal() {
                        if let Some(leaf) = hub.group.leaf(r.removed()) {
                            mls::leaf_node_items(items, leaf)?;
                        }
                    }
                    hub.group
                        .add_proposal(p.mls.storage(), *q)
                        .map_err(mls_err("hub stores a proposal"))?;
                }
                _ => {
                    return Err(SimError::Protocol(
                        "a handshake submission held a non-handshake message".into(),
                    ))
                }
            }
        }
        let recipients = recipients.unwrap_or_default();
        let count = recipients.count();
        if committed {
            // Stored before the fanout: a new follower gets the state of the new epoch.
            let gi = m.group_info.as_ref().ok_or_else(|| {
                SimError::Protocol("a commit without the new epoch's GroupInfo".into())
            })?;
            if let Some(hub) = self.providers[at].hub.get_mut(&room) {
                hub.group_info = gi.as_slice().to_vec();
            }
        }
        self.fan_out(
            at,
            &m.room,
            fanout_kind::HANDSHAKE,
            recipients,
            m.messages.clone(),
            vec![],
        );
        if !committed {
            return Ok(());
        }
        self.stats.commits += 1;
        let after = self.hub_member_clients(at, room)?;
        self.update_memberships(room, &before, &after);
        // Providers left without members stop following the room.
        let still: BTreeSet<usize> = after
            .iter()
            .map(|&c| self.users[self.clients[c].user].provider)
            .collect();
        if let Some(h) = self.providers[at].hub.get_mut(&room) {
            h.followers.retain(|p| still.contains(p));
        }
        let mut outstanding = count;
        if let Some(welcome) = &m.welcome {
            // The Welcome goes to the leaves the commit added, as the hub read them.
            let new_leaves =
                self.hub_recipients(at, room, |m| added_keys.contains(&m.signature_key))?;
            outstanding += new_leaves.count();
            let keys = link_keys(&self.providers[at].hub[&room]);
            self.fan_out(
                at,
                &m.room,
                fanout_kind::WELCOME,
                new_leaves,
                vec![welcome.clone()],
                keys,
            );
        }
        let op = self.rooms[room].op.as_mut().ok_or_else(|| {
            SimError::Protocol(format!("a commit to {} outside any operation", m.room))
        })?;
        op.outstanding = outstanding;
        if outstanding == 0 {
            self.step_done(room)?;
        }
        Ok(())
    }

    /// Sends each provider with recipients the messages for its clients among `recipients`.
    fn fan_out(
        &mut self,
        hub: usize,
        room: &str,
        kind: u8,
        recipients: Recipients,
        messages: Vec<VLBytes>,
        link_keys: Vec<wire::LinkKey>,
    ) {
        let room_id = self.room_by_uri(room).expect("a hosted room");
        for (p, addresses) in recipients.0 {
            let room_state = match self.providers[hub].hub.get_mut(&room_id) {
                Some(h) if p != hub && !h.followers.contains(&p) => {
                    h.followers.insert(p);
                    Some(wire::RoomState {
                        group_info: h.group_info.clone().into(),
                        ratchet_tree: mls::to_bytes(&h.group.export_ratchet_tree()).into(),
                    })
                }
                _ => None,
            };
            let (mut local, mut pseudonym_recipients, mut encrypted_recipients) =
                (vec![], vec![], vec![]);
            for a in addresses {
                match a {
                    Address::Local(c) => local.push(c),
                    Address::Pseudonym(s) => pseudonym_recipients.push(s),
                    Address::Sealed(s) => encrypted_recipients.push(s),
                }
            }
            let f = Wire::Fanout(wire::Fanout {
                room: room.to_string(),
                timestamp: self.engine.now(),
                kind,
                encrypted_recipients,
                pseudonym_recipients,
                messages: messages.clone(),
                link_keys: link_keys.clone(),
                room_state,
            });
            self.fanout_to(hub, p, Endpoint::FollowerIn, None, f.to_bytes(), local);
        }
    }
}

/// Records what a staged commit shows of the leaves it adds, updates and removes (read with
/// `group`, the state before the commit). Returns the added leaves' signature keys and the
/// committer's path leaf.
fn commit_items(
    items: &mut Items,
    group: &PublicGroup,
    staged: &openmls::prelude::StagedCommit,
) -> Result<(Vec<Vec<u8>>, Option<LeafNode>), SimError> {
    let mut added = vec![];
    for add in staged.add_proposals() {
        let leaf = add.add_proposal().key_package().leaf_node();
        mls::leaf_node_items(items, leaf)?;
        added.push(leaf.signature_key().as_slice().to_vec());
    }
    let path_leaf = staged.update_path_leaf_node().cloned();
    if let Some(leaf) = &path_leaf {
        mls::leaf_node_items(items, leaf)?;
    }
    for rem in staged.remove_proposals() {
        if let Some(leaf) = group.leaf(rem.remove_proposal().removed()) {
            mls::leaf_node_items(items, leaf)?;
        }
    }
    Ok((added, path_leaf))
}

/// Starts following a room from its state: a PublicGroup, whose leaves are all recorded.
fn follow_room(
    provider: &crate::crypto::SimProvider,
    state: &wire::RoomState,
    items: &mut Items,
) -> Result<PublicGroup, SimError> {
    let vgi = match mls::parse_message(state.group_info.as_slice())?.extract() {
        MlsMessageBodyIn::GroupInfo(g) => g,
        _ => return Err(SimError::Protocol("room state without a GroupInfo".into())),
    };
    let tree = mls::parse_tree(state.ratchet_tree.as_slice())?;
    let (group, _) = PublicGroup::from_external(
        provider.crypto(),
        provider.storage(),
        tree,
        vgi,
        ProposalStore::new(),
    )
    .map_err(mls_err("follow a room"))?;
    for member in group.members() {
        if let Some(leaf) = group.leaf(member.index) {
            mls::leaf_node_items(items, leaf)?;
        }
    }
    Ok(group)
}

/// How a fanout reaches one client at its provider.
enum Address {
    /// A client the provider knows is a member (plain MIMI: nothing on the wire).
    Local(usize),
    /// A registered client pseudonym (pseudonymous credentials without encrypted queue IDs).
    Pseudonym(String),
    /// A queue ID sealed to the provider (MIMIMI).
    Sealed(VLBytes),
}

/// Fanout addresses per provider.
#[derive(Default)]
struct Recipients(BTreeMap<usize, Vec<Address>>);

impl Recipients {
    /// Adds the providers of `other` without their addresses: they get the fanout, but none
    /// of their clients is a recipient unless already listed.
    fn include_providers(&mut self, other: Recipients) {
        for p in other.0.into_keys() {
            self.0.entry(p).or_default();
        }
    }

    fn count(&self) -> usize {
        self.0.values().map(Vec::len).sum()
    }
}

/// A hub's stored identity link keys, in wire form.
fn link_keys(hub: &HubRoom) -> Vec<wire::LinkKey> {
    hub.link_keys
        .iter()
        .map(|(k, e)| wire::LinkKey {
            signature_key: k.clone().into(),
            encrypted_key: e.clone(),
        })
        .collect()
}
