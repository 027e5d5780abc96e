//! What a run will cost, estimated before running it: events and MLS operations per mode,
//! from a replay of the scenario's memberships. `validate` prints it, so that a user sees the
//! cost of a scenario before committing to it. The model counts hops and operations per
//! protocol flow; `tests/estimate.rs` holds it to within a factor of two of what the shipped
//! scenarios really do.

use std::collections::{BTreeMap, BTreeSet};

use super::{ActionKind, Mechanisms, Scenario};

/// The estimated work of one mode.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Events the engine processes (deliveries, timers, actions).
    pub events: u64,
    /// MLS operations (as counted by `RunStats::mls_operations`).
    pub mls_operations: u64,
}

impl std::ops::AddAssign for Estimate {
    fn add_assign(&mut self, o: Estimate) {
        self.events = self.events.saturating_add(o.events);
        self.mls_operations = self.mls_operations.saturating_add(o.mls_operations);
    }
}

fn work(events: u64, mls_operations: u64) -> Estimate {
    Estimate {
        events,
        mls_operations,
    }
}

/// A room during the replay: its members.
struct Room {
    members: BTreeSet<usize>,
}

/// The estimate of every mode the scenario runs, in mode order.
pub fn estimate(s: &Scenario) -> Vec<(String, Estimate)> {
    s.modes
        .iter()
        .map(|m| (m.name.clone(), estimate_mode(s, &m.mechanisms)))
        .collect()
}

/// The replay of one mode.
struct Model<'s> {
    s: &'s Scenario,
    m: &'s Mechanisms,
    /// Clients per user and provider per user, by user index.
    clients: Vec<u64>,
    provider: Vec<usize>,
    rooms: BTreeMap<&'s str, Room>,
}

impl Model<'_> {
    /// Clients in a room and providers with members in it.
    fn size(&self, room: &Room) -> (u64, u64) {
        let clients = room.members.iter().map(|&u| self.clients[u]).sum();
        let providers: BTreeSet<usize> = room.members.iter().map(|&u| self.provider[u]).collect();
        (clients, providers.len() as u64)
    }

    /// A request and its answer: over the anonymous channel, or through the providers.
    fn request(&self) -> Estimate {
        work(4, 0)
    }

    /// A claim (MIMI: through the hub and the target's provider) or a token fetch (MIMIMI).
    fn claim(&self) -> Estimate {
        if self.m.anonymous_key_packages {
            self.request()
        } else {
            work(6, 0)
        }
    }

    /// A commit (or a batch of proposals) in a room of `clients` clients at `providers`
    /// providers: made once, read by the hub and every follower and every other client;
    /// `welcomed` clients join from a Welcome and upload a new KeyPackage under MIMIMI.
    fn commit(&self, clients: u64, providers: u64, welcomed: u64) -> Estimate {
        let readers = clients.saturating_sub(1);
        let replenish = if self.m.anonymous_key_packages {
            // A turn with the sets: the list asked and answered, then an upload.
            work(6 * welcomed, welcomed)
        } else {
            Estimate::default()
        };
        let mut e = work(
            2 + providers + readers + welcomed + u64::from(welcomed > 0) * providers,
            1 + 1 + providers + readers + welcomed,
        );
        e += replenish;
        e
    }

    /// An application message to a room of `clients` clients.
    fn message(&self, clients: u64, providers: u64) -> Estimate {
        work(2 + providers + clients, 1 + clients)
    }

    /// KeyPackages of a user at registration (and each last-resort re-upload).
    fn registration(&self, clients: u64) -> Estimate {
        let s = self.s;
        if self.m.anonymous_key_packages {
            let sets = if self.m.last_resort_policy {
                u64::from(s.key_package_sets)
            } else {
                1
            } + 1;
            // Per client: its turn (the list asked and answered), then one upload per set.
            work(1 + clients * (2 * sets + 5) + 1, clients * sets)
        } else {
            let kps = u64::from(s.key_packages_per_client) + 1;
            work(
                1 + clients + u64::from(self.m.encrypted_queue_ids) * clients,
                clients * kps,
            )
        }
    }

    /// A room created by `by` (alone), then the adds of `members`.
    fn create(&self, by: usize, members: &[usize]) -> Estimate {
        let mut room = Room {
            members: BTreeSet::from([by]),
        };
        let mut e = work(3, 2); // group creation, announced and acknowledged; the hub follows
        if self.clients[by] > 1 {
            e += self.claim();
        }
        for _ in members {
            e += self.claim();
        }
        let welcomed = self.clients[by] - 1 + members.iter().map(|&u| self.clients[u]).sum::<u64>();
        room.members.extend(members);
        let (clients, providers) = self.size(&room);
        if welcomed > 0 {
            e += self.commit(clients, providers, welcomed);
        }
        e
    }

    /// A user's external join, then the add of its other clients.
    fn join(&self, user: usize, room: &Room, helper: bool) -> Estimate {
        let (clients, providers) = self.size(room);
        let mut e = self.request(); // the GroupInfo
        if helper {
            // The wrapper key asked for and handed over in a connection room of 2 users.
            let conn = self.clients[user] + 2;
            e += self.message(conn, 2);
            e += self.message(conn, 2);
        }
        if self.clients[user] > 1 {
            e += self.claim();
        }
        e += self.commit(clients + 1, providers, 0);
        let others = self.clients[user] - 1;
        if others > 0 {
            e += self.commit(clients + self.clients[user], providers, others);
        }
        e
    }

    /// A connection: MIMI consent, or the MIMIMI flow with its connection room.
    fn connect(&self, from: usize, to: usize, accept: bool) -> Estimate {
        if !self.m.encrypted_connection_requests {
            return work(8, 0);
        }
        let mut e = self.create(from, &[]);
        e += self.request(); // the responder's establishment key
        e += work(4, 0); // the sealed request to the responder's inbox
        if accept {
            let room = Room {
                members: BTreeSet::from([from]),
            };
            e += self.join(to, &room, false);
        }
        e
    }
}

fn estimate_mode(s: &Scenario, m: &Mechanisms) -> Estimate {
    let user_index: BTreeMap<&str, usize> = s
        .users
        .iter()
        .enumerate()
        .map(|(i, u)| (u.name.as_str(), i))
        .collect();
    let provider_index: BTreeMap<&str, usize> = s
        .providers
        .iter()
        .enumerate()
        .map(|(i, p)| (p.domain.as_str(), i))
        .collect();
    let mut model = Model {
        s,
        m,
        // Placeholders (`placeholder_leaves`) cost what real clients cost.
        clients: s
            .users
            .iter()
            .map(|u| u64::from(s.clients_in(u, m)))
            .collect(),
        provider: s
            .users
            .iter()
            .map(|u| provider_index[u.provider.as_str()])
            .collect(),
        rooms: BTreeMap::new(),
    };
    let u = |name: &str| user_index[name];
    let mut total = Estimate::default();
    for &c in &model.clients {
        total += model.registration(c);
    }
    let end = s.end_us();
    if m.anonymous_key_packages && m.last_resort_policy && s.last_resort_reupload_us > 0 {
        let reuploads = end / s.last_resort_reupload_us;
        for &c in &model.clients {
            let mut one = model.registration(c);
            one.events = one.events.saturating_mul(reuploads);
            one.mls_operations = c.saturating_mul(reuploads);
            total += one;
        }
    }
    for a in &s.actions {
        total += work(1, 0); // the action's own event
        let e = match &a.kind {
            ActionKind::Connect { from, to, accept } => model.connect(u(from), u(to), *accept),
            ActionKind::PublishKeyPackages { user, count } => {
                let mut one = model.registration(model.clients[u(user)]);
                one.events = one.events.saturating_mul(u64::from(*count));
                one.mls_operations = model.clients[u(user)].saturating_mul(u64::from(*count));
                one
            }
            ActionKind::CreateRoom {
                room, by, members, ..
            } => {
                let by = u(by);
                let members: Vec<usize> = members.iter().map(|x| u(x)).collect();
                let e = model.create(by, &members);
                let mut set = BTreeSet::from([by]);
                set.extend(members);
                model.rooms.insert(room, Room { members: set });
                e
            }
            ActionKind::Add { room, users, .. } => {
                let added: Vec<usize> = users.iter().map(|x| u(x)).collect();
                let r = model.rooms.get_mut(room.as_str()).expect("validated");
                r.members.extend(&added);
                let r = &model.rooms[room.as_str()];
                let (clients, providers) = model.size(r);
                let welcomed: u64 = added.iter().map(|&x| model.clients[x]).sum();
                let mut e = Estimate::default();
                for _ in &added {
                    e += model.claim();
                }
                e += model.commit(clients, providers, welcomed);
                e
            }
            ActionKind::Join { room, user } => {
                let r = &model.rooms[room.as_str()];
                let helper = m.pseudonymous_credentials && m.encrypted_connection_requests;
                let e = model.join(u(user), r, helper);
                model
                    .rooms
                    .get_mut(room.as_str())
                    .expect("validated")
                    .members
                    .insert(u(user));
                e
            }
            ActionKind::Remove { room, user, .. } | ActionKind::Leave { room, user } => {
                let leave = matches!(a.kind, ActionKind::Leave { .. });
                let r = &model.rooms[room.as_str()];
                let (clients, providers) = model.size(r);
                let mut e = model.commit(clients, providers, 0);
                if leave {
                    e += model.commit(clients, providers, 0); // the proposals
                }
                model
                    .rooms
                    .get_mut(room.as_str())
                    .expect("validated")
                    .members
                    .remove(&u(user));
                e
            }
            ActionKind::AddDevice { user } => {
                // Registration of one client, then an external join of each of the user's rooms.
                let user = u(user);
                let mut e = model.registration(1);
                for r in model.rooms.values().filter(|r| r.members.contains(&user)) {
                    let (clients, providers) = model.size(r);
                    e += model.request();
                    e += model.commit(clients + 1, providers, 0);
                }
                model.clients[user] += 1;
                e
            }
            ActionKind::RemoveDevice { user, .. } => {
                // In each of the user's rooms, a proposal and the commit of a member.
                let user = u(user);
                let mut e = Estimate::default();
                for r in model.rooms.values().filter(|r| r.members.contains(&user)) {
                    let (clients, providers) = model.size(r);
                    e += model.commit(clients, providers, 0);
                    e += model.commit(clients, providers, 0);
                }
                model.clients[user] = model.clients[user].saturating_sub(1);
                e
            }
            ActionKind::Send { room, count, .. } => {
                let r = &model.rooms[room.as_str()];
                let (clients, providers) = model.size(r);
                let mut one = model.message(clients, providers);
                one.events = one
                    .events
                    .saturating_add(1)
                    .saturating_mul(u64::from(*count));
                one.mls_operations = one.mls_operations.saturating_mul(u64::from(*count));
                one
            }
        };
        total += e;
    }
    total
}
