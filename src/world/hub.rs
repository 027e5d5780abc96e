//! Providers and hubs: what a provider does with bytes that arrive at one of its endpoints,
//! and what it observes from them. The hub role follows each room it hosts with an openmls
//! `PublicGroup` over the handshake PublicMessages and fans messages out to follower providers.

use std::collections::{BTreeMap, BTreeSet};

use openmls::group::ProposalStore;
use openmls::prelude::{
    LeafNodeIndex, MlsMessageBodyIn, ProcessedMessageContent, PublicGroup, Sender,
};
use openmls_traits::OpenMlsProvider;
use tls_codec::VLBytes;

use super::mls::{self, mls_err};
use super::wire::{self, fanout_kind, Wire};
use super::{Endpoint, HubRoom, SimError, Stage, World};
use crate::observe::{Items, Kind, Peer};

/// Adds a user URI as its own subject, with the session's account when the user is the one
/// who opened it.
fn user_subject(items: &mut Items, uri: &str, account: Option<&str>) -> u32 {
    let s = items.subject();
    items.push(s, Kind::UserId, uri);
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
        origin: Option<usize>,
        bytes: Vec<u8>,
    ) -> Result<(), SimError> {
        let msg = Wire::from_bytes(&bytes)?;
        let mut items = self.envelope_items(to, &msg, &peer, endpoint)?;
        let unexpected = || {
            SimError::Protocol(format!(
                "{} arrived at the {endpoint:?} endpoint",
                msg.flow()
            ))
        };
        match (endpoint, &msg) {
            (Endpoint::Home, Wire::KeyPackageUpload(m)) => {
                let client = origin.ok_or_else(unexpected)?;
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
            (Endpoint::Home, Wire::ConsentRequest(m)) => {
                let target = self.domain_of_uri(&m.target)?;
                self.provider_to(to, target, Endpoint::TargetIn, origin, bytes.clone());
            }
            (Endpoint::Home, Wire::ConsentResponse(m)) => {
                let requester = self.domain_of_uri(&m.requester)?;
                self.provider_to(to, requester, Endpoint::TargetIn, origin, bytes.clone());
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
                self.provider_to(to, hub, Endpoint::HubIn, origin, bytes.clone());
            }
            (Endpoint::HubIn, Wire::KeyPackageClaim(m)) => {
                let target = self.domain_of_uri(&m.target)?;
                self.provider_to(to, target, Endpoint::TargetIn, origin, bytes.clone());
            }
            (Endpoint::HubIn, Wire::CreateRoom(m)) => {
                self.hub_create_room(to, m, &mut items)?;
                let home = self.domain_of_uri(&m.creator)?;
                let ack = Wire::RoomAck(wire::RoomAck {
                    room: m.room.clone(),
                });
                self.provider_to(to, home, Endpoint::HomeReturn, origin, ack.to_bytes());
            }
            (Endpoint::HubIn, Wire::Handshake(m)) => {
                self.record(to, &msg, peer.clone(), bytes.len(), vec![]);
                let at = self.observations.len() - 1;
                self.hub_handshake(to, m, &mut items)?;
                self.observations[at].items = items.into_vec();
                return Ok(());
            }
            (Endpoint::HubIn, Wire::GroupInfoRequest(m)) => {
                let room = self.room_by_uri(&m.room)?;
                let hub = self.providers[to].hub.get(&room).ok_or_else(|| {
                    SimError::Protocol(format!("room {} has no members left to join", m.room))
                })?;
                let answer = Wire::GroupInfoResponse(wire::GroupInfoResponse {
                    room: m.room.clone(),
                    requester: m.requester.clone(),
                    group_info: hub.group_info.clone().into(),
                    ratchet_tree: mls::to_bytes(&hub.group.export_ratchet_tree()).into(),
                });
                let home = self.domain_of_uri(&m.requester)?;
                self.provider_to(to, home, Endpoint::HomeReturn, origin, answer.to_bytes());
            }
            (Endpoint::HubIn, Wire::AppMessage(m)) => {
                let room = self.room_by_uri(&m.room)?;
                let recipients = self.hub_member_uris(to, room, None)?;
                self.fan_out(
                    to,
                    &m.room,
                    fanout_kind::APPLICATION,
                    Some(&m.sender),
                    &recipients,
                    vec![m.message.clone()],
                );
            }
            (Endpoint::TargetIn, Wire::KeyPackageClaim(m)) => {
                let answer = self.answer_claim(to, m)?;
                let hub = self.domain_of_uri(&m.room)?;
                self.provider_to(to, hub, Endpoint::HubReturn, origin, answer.to_bytes());
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
            (Endpoint::HubReturn, Wire::KeyPackageClaimResponse(m)) => {
                let home = self.domain_of_uri(&m.requester)?;
                self.provider_to(to, home, Endpoint::HomeReturn, origin, bytes.clone());
            }
            (Endpoint::HomeReturn, _) => {
                let client = origin.ok_or_else(unexpected)?;
                self.provider_to_client(client, bytes.clone());
            }
            (Endpoint::FollowerIn, Wire::Fanout(m)) => {
                for r in &m.recipients {
                    let c = *self
                        .client_index
                        .get(r)
                        .ok_or_else(|| SimError::Protocol(format!("no queue for {r}")))?;
                    if self.users[self.clients[c].user].provider != to {
                        return Err(SimError::Protocol(format!(
                            "{r} is not a client of {}",
                            self.providers[to].domain
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

    /// The identifiers any provider reads from a message's envelope and KeyPackages.
    fn envelope_items(
        &self,
        at: usize,
        msg: &Wire,
        peer: &Peer,
        endpoint: Endpoint,
    ) -> Result<Items, SimError> {
        let account = match (peer, endpoint) {
            (Peer::Account(a), Endpoint::Home) => Some(a.as_str()),
            _ => None,
        };
        let crypto = self.providers[at].mls.crypto();
        let mut items = Items::default();
        match msg {
            Wire::KeyPackageUpload(m) => {
                for kp in &m.key_packages {
                    let kp = mls::parse_key_package(crypto, kp.as_slice())?;
                    let s = mls::key_package_items(&mut items, crypto, &kp)?;
                    if let Some(a) = account {
                        items.push(s, Kind::Account, a);
                    }
                }
            }
            Wire::KeyPackageClaim(m) => {
                user_subject(&mut items, &m.requester, account);
                user_subject(&mut items, &m.target, None);
            }
            Wire::KeyPackageClaimResponse(m) => {
                user_subject(&mut items, &m.requester, None);
                user_subject(&mut items, &m.target, None);
                for kp in &m.key_packages {
                    let kp = mls::parse_key_package(crypto, kp.as_slice())?;
                    let s = mls::key_package_items(&mut items, crypto, &kp)?;
                    items.push(s, Kind::UserId, m.target.clone());
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
            Wire::Handshake(m) => {
                user_subject(&mut items, &m.sender, account);
            }
            Wire::GroupInfoRequest(m) => {
                user_subject(&mut items, &m.requester, account);
            }
            Wire::GroupInfoResponse(m) => {
                user_subject(&mut items, &m.requester, None);
            }
            Wire::AppMessage(m) => {
                user_subject(&mut items, &m.sender, account);
            }
            Wire::Fanout(m) => {
                if let Some(sender) = &m.sender {
                    user_subject(&mut items, sender, None);
                }
                for r in &m.recipients {
                    let s = items.subject();
                    if let Some(u) = wire::user_of_client_uri(r) {
                        items.push(s, Kind::UserId, u);
                    }
                    items.push(s, Kind::ClientId, r.clone());
                }
            }
            Wire::RoomAck(_) => {}
        }
        Ok(items)
    }

    /// The target's provider hands out one KeyPackage per client of the target: a regular one
    /// while any is left, else the client's last-resort KeyPackage.
    fn answer_claim(&mut self, at: usize, m: &wire::KeyPackageClaim) -> Result<Wire, SimError> {
        let target = self.user_by_uri(&m.target)?;
        let mut key_packages = vec![];
        for c in self.users[target].clients.clone() {
            let stock = self.providers[at].key_packages.entry(c).or_default();
            if let Some(kp) = stock.regular.pop_front() {
                key_packages.push(VLBytes::from(kp));
            } else if let Some(kp) = &stock.last_resort {
                key_packages.push(VLBytes::from(kp.clone()));
                self.stats.last_resort_claims += 1;
            }
        }
        Ok(Wire::KeyPackageClaimResponse(
            wire::KeyPackageClaimResponse {
                room: m.room.clone(),
                requester: m.requester.clone(),
                target: m.target.clone(),
                key_packages,
            },
        ))
    }

    /// The clients (by index) the hub's PublicGroup of `room` lists.
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
                let uri = mls::credential_uri(&m.credential)?;
                self.client_index
                    .get(&uri)
                    .copied()
                    .ok_or_else(|| SimError::Protocol(format!("unknown client {uri}")))
            })
            .collect()
    }

    /// Client URIs of the hub's members of `room`, without the leaf `except`.
    fn hub_member_uris(
        &self,
        hub: usize,
        room: usize,
        except: Option<LeafNodeIndex>,
    ) -> Result<Vec<String>, SimError> {
        let h = self.providers[hub].hub.get(&room).ok_or_else(|| {
            SimError::Protocol(format!(
                "{} hosts no room {room}",
                self.providers[hub].domain
            ))
        })?;
        h.group
            .members()
            .filter(|m| Some(m.index) != except)
            .map(|m| mls::credential_uri(&m.credential))
            .collect()
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
        for member in group.members() {
            mls::leaf_items(items, &member.credential, &member.signature_key)?;
        }
        self.providers[at].hub.insert(
            room,
            HubRoom {
                group,
                group_info: m.group_info.as_slice().to_vec(),
            },
        );
        let after = self.hub_member_clients(at, room)?;
        self.update_memberships(room, &BTreeSet::new(), &after);
        Ok(())
    }

    /// The hub processes submitted handshakes with its PublicGroup, records the leaves they
    /// add, update or remove, and fans them out (with any Welcome) to follower providers.
    fn hub_handshake(
        &mut self,
        at: usize,
        m: &wire::Handshake,
        items: &mut Items,
    ) -> Result<(), SimError> {
        let room = self.room_by_uri(&m.room)?;
        let before = self.hub_member_clients(at, room)?;
        let mut recipients: Option<Vec<String>> = None;
        let mut committed = false;
        for msg in &m.messages {
            let pm = mls::parse_message(msg.as_slice())?
                .try_into_protocol_message()
                .map_err(mls_err("read a handshake"))?;
            let p = &mut self.providers[at];
            let hub = p
                .hub
                .get_mut(&room)
                .ok_or_else(|| SimError::Protocol(format!("no hub state for {}", m.room)))?;
            let processed = hub
                .group
                .process_message(p.mls.crypto(), pm)
                .map_err(mls_err("hub processes a handshake"))?;
            let sender = match processed.sender() {
                Sender::Member(i) => Some(*i),
                _ => None,
            };
            if recipients.is_none() {
                recipients = Some(
                    hub.group
                        .members()
                        .filter(|mem| Some(mem.index) != sender)
                        .map(|mem| mls::credential_uri(&mem.credential))
                        .collect::<Result<_, _>>()?,
                );
            }
            match processed.into_content() {
                ProcessedMessageContent::StagedCommitMessage(staged) => {
                    for add in staged.add_proposals() {
                        let leaf = add.add_proposal().key_package().leaf_node();
                        mls::leaf_node_items(items, leaf)?;
                    }
                    if let Some(leaf) = staged.update_path_leaf_node() {
                        mls::leaf_node_items(items, leaf)?;
                    }
                    for rem in staged.remove_proposals() {
                        if let Some(leaf) = hub.group.leaf(rem.remove_proposal().removed()) {
                            mls::leaf_node_items(items, leaf)?;
                        }
                    }
                    hub.group
                        .merge_commit(p.mls.storage(), *staged)
                        .map_err(mls_err("hub merges a commit"))?;
                    committed = true;
                }
                ProcessedMessageContent::ProposalMessage(q) => {
                    if let openmls::prelude::Proposal::Remove(r) = q.proposal() {
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
        self.fan_out(
            at,
            &m.room,
            fanout_kind::HANDSHAKE,
            None,
            &recipients,
            m.messages.clone(),
        );
        if !committed {
            return Ok(());
        }
        self.stats.commits += 1;
        let gi = m.group_info.as_ref().ok_or_else(|| {
            SimError::Protocol("a commit without the new epoch's GroupInfo".into())
        })?;
        if let Some(hub) = self.providers[at].hub.get_mut(&room) {
            hub.group_info = gi.as_slice().to_vec();
        }
        let after = self.hub_member_clients(at, room)?;
        self.update_memberships(room, &before, &after);
        let mut outstanding = recipients.len();
        if let Some(welcome) = &m.welcome {
            let joined: Vec<String> = after
                .difference(&before)
                .map(|&c| self.clients[c].uri.clone())
                .collect();
            outstanding += joined.len();
            self.fan_out(
                at,
                &m.room,
                fanout_kind::WELCOME,
                None,
                &joined,
                vec![welcome.clone()],
            );
        }
        let op = self.rooms[room].op.as_mut().ok_or_else(|| {
            SimError::Protocol(format!("a commit to {} outside any operation", m.room))
        })?;
        op.stage = Stage::Committed;
        op.outstanding = outstanding;
        if outstanding == 0 {
            self.step_done(room)?;
        }
        Ok(())
    }

    /// Sends each follower provider the messages for its clients among `recipients`.
    fn fan_out(
        &mut self,
        hub: usize,
        room: &str,
        kind: u8,
        sender: Option<&str>,
        recipients: &[String],
        messages: Vec<VLBytes>,
    ) {
        let mut by_provider: BTreeMap<usize, Vec<String>> = BTreeMap::new();
        for r in recipients {
            if let Ok(p) = self.domain_of_uri(r) {
                by_provider.entry(p).or_default().push(r.clone());
            }
        }
        for (p, recipients) in by_provider {
            let f = Wire::Fanout(wire::Fanout {
                room: room.to_string(),
                timestamp: self.engine.now(),
                kind,
                sender: sender.map(str::to_string),
                recipients,
                messages: messages.clone(),
            });
            self.provider_to(hub, p, Endpoint::FollowerIn, None, f.to_bytes());
        }
    }
}
