//! A global concurrency limit: slots leased from Redis, per instance, kept by a task
//! of the store's runtime (the keeper).
//!
//! **The store** holds, per limit, how many slots each instance holds (a hash) and
//! when each instance's lease ends (a sorted set, scored by the server's clock). One
//! script drops the leases that ended, counts the other instances' slots, and sets this
//! instance's to as many as it asks for that fit under `max`. A lease is renewed with
//! every request, and at least every [`renew_every`]; an instance that dies holds its
//! slots until its lease ends, never longer.
//!
//! **Trick: slots held ahead.** The instance's slots are the `max` of an ordinary local
//! concurrency limiter, so a flow takes one with the local compare-and-swap and gives it
//! back locally; the keeper alone talks to the store, asking for what is in flight, what
//! waits, and a few spare slots (fewer as the fleet fills, none once idle for
//! [`IDLE`]). **Benefit:** a gate far from the limit costs what a local limit costs.
//! **Cost:** the fleet never exceeds `max` (every slot in use is held in the store),
//! but spare slots held by one instance are not free for another: an instance may
//! have to wait while another holds spares, for at most one keeper tick ([`TICK`]).
//!
//! **Waiting.** A flow that finds no free slot joins the local FIFO queue and wakes the
//! keeper, which asks the store at once (one round trip serves every waiter). While
//! flows wait, the keeper asks again every [`POLL`] (a bounded poll rather than
//! pub/sub: slots are given back to the store in batches, by keepers, not per flow, so
//! a message per release would cost more than the poll, and a poll needs no second
//! connection). When the store says the fleet is full, waiters beyond `queue` are
//! refused at once (the local queue's length is `queue` plus `max`, so that a flow may
//! wait for that one answer).
//!
//! **Fair shares.** Each request also says how many flows run and wait here (the
//! instance's demand). When the fleet wants more than `max`, an instance is granted
//! at most its max-min fair share of it, so a busy instance whose own queue never
//! empties cannot keep every slot from the others (a new user's trial found one
//! starved for seconds). An instance above its share admits no new flow until it is
//! below it; the store keeps counting its running flows until they end, so the fleet
//! stays within `max` meanwhile.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use flowgate_config::OnStoreError;

use super::store::{millis, Store};
use crate::limits::concurrency::{ConcurrencyLimiter, ConcurrencySpec};

/// How often a keeper looks at its limiter while no flow waits.
pub(crate) const TICK: Duration = Duration::from_millis(50);

/// How often it asks the store while flows wait.
pub(crate) const POLL: Duration = Duration::from_millis(10);

/// Spare slots are given back after this long without a flow.
pub(crate) const IDLE: Duration = Duration::from_secs(1);

/// The most spare slots an instance holds.
const MAX_SPARE: usize = 64;

/// How often a lease is renewed at least: a third of it, at most every second.
pub(crate) fn renew_every(lease: Duration) -> Duration {
    (lease / 3).min(Duration::from_secs(1))
}

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS[1]: slots per instance (hash), KEYS[2]: lease ends (sorted set, ms),
-- KEYS[3]: demand per instance (hash: flows running and waiting there).
-- ARGV: this instance, slots wanted, max, lease (ms), demand, flows running.
local me = ARGV[1]
local wanted, max, lease = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local demand, running = tonumber(ARGV[5]), tonumber(ARGV[6])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local ended = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, instance in ipairs(ended) do
  redis.call('HDEL', KEYS[1], instance)
  redis.call('HDEL', KEYS[3], instance)
end
if #ended > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now) end
local others, mine = 0, 0
local held = redis.call('HGETALL', KEYS[1])
for i = 1, #held, 2 do
  local n = tonumber(held[i + 1]) or 0
  if held[i] == me then mine = n else others = others + n end
end
-- When the fleet wants more than max, each instance gets at most a fair share of it
-- (max-min fairness over the demands), so that one busy instance cannot keep every
-- slot from the others.
local demands, total = {demand}, demand
local wants = redis.call('HGETALL', KEYS[3])
for i = 1, #wants, 2 do
  local n = tonumber(wants[i + 1]) or 0
  if wants[i] ~= me and n > 0 then
    demands[#demands + 1] = n
    total = total + n
  end
end
local share = max
if total > max then
  table.sort(demands)
  local left = max
  for i, d in ipairs(demands) do
    local level = math.ceil(left / (#demands - i + 1))
    if d >= level then
      share = level
      break
    end
    left = left - d
  end
end
local granted = math.max(0, math.min(wanted, max - others, share))
-- What the store counts for this instance: what it is granted, and never fewer than
-- the flows it still runs on slots it held.
local record = math.max(granted, math.min(running, mine))
if record > 0 then redis.call('HSET', KEYS[1], me, record) else redis.call('HDEL', KEYS[1], me) end
if demand > 0 then redis.call('HSET', KEYS[3], me, demand) else redis.call('HDEL', KEYS[3], me) end
if record > 0 or demand > 0 then
  redis.call('ZADD', KEYS[2], now + lease, me)
  for k = 1, 3 do redis.call('PEXPIRE', KEYS[k], 2 * lease) end
else
  redis.call('ZREM', KEYS[2], me)
end
return {granted, others, record}
",
    )
});

/// What a keeper asks the store for.
#[derive(Debug, Clone, Copy)]
struct Ask {
    /// Slots wanted in all (running, waiting and spare).
    wanted: usize,
    max: usize,
    lease: Duration,
    /// Flows running and waiting here, for the fair share.
    demand: usize,
    /// Flows running here now: the store never counts fewer.
    running: usize,
}

/// A global concurrency limit in this instance: the handle on its keeper. The keeper
/// stops (giving back every slot once no flow holds one) when [`stop`](Self::stop) is
/// called or the handle is dropped.
#[derive(Debug)]
pub(crate) struct Leases {
    keeper: Arc<Keeper>,
}

#[derive(Debug)]
struct Keeper {
    store: Arc<Store>,
    limiter: Arc<ConcurrencyLimiter>,
    keys: [String; 3],
    max: AtomicUsize,
    queue: AtomicUsize,
    lease_ms: std::sync::atomic::AtomicU64,
    /// Slots this instance holds in the store, as it last said.
    held: AtomicUsize,
    /// Slots free in the fleet at the last answer.
    free: AtomicUsize,
    demand: Arc<tokio::sync::Notify>,
    stopping: AtomicBool,
}

impl Leases {
    /// Starts keeping `limiter`'s slots for `flag`'s limit `spec`.
    pub(crate) fn start(
        store: Arc<Store>,
        flag: &str,
        limiter: Arc<ConcurrencyLimiter>,
        spec: ConcurrencySpec,
        lease: Duration,
    ) -> Self {
        let demand = Arc::new(tokio::sync::Notify::new());
        let _ = limiter.group.demand.set(Arc::clone(&demand));
        let keeper = Arc::new(Keeper {
            keys: super::keys::concurrency(flag),
            max: AtomicUsize::new(spec.max),
            queue: AtomicUsize::new(spec.queue),
            lease_ms: std::sync::atomic::AtomicU64::new(
                u64::try_from(millis(lease)).unwrap_or(u64::MAX),
            ),
            held: AtomicUsize::new(0),
            free: AtomicUsize::new(spec.max),
            demand,
            stopping: AtomicBool::new(false),
            limiter,
            store,
        });
        keeper.set_local(0);
        let task = Arc::clone(&keeper);
        keeper.store.spawn(async move { task.keep().await });
        Self { keeper }
    }

    /// Applies new parameters (a reload).
    pub(crate) fn update(&self, spec: ConcurrencySpec, lease: Duration) {
        let keeper = &self.keeper;
        keeper.max.store(spec.max, Ordering::SeqCst);
        keeper.queue.store(spec.queue, Ordering::SeqCst);
        keeper.lease_ms.store(
            u64::try_from(millis(lease)).unwrap_or(u64::MAX),
            Ordering::SeqCst,
        );
        if !keeper.store.health.is_down() {
            // The new queue now; the keeper adjusts the slots at its next turn.
            keeper.set_local(keeper.held.load(Ordering::SeqCst));
        }
        keeper.demand.notify_one();
    }

    /// Winds the keeper down: no spare slots from now on, and every slot given back to
    /// the store once no flow holds one.
    pub(crate) fn stop(&self) {
        self.keeper.stopping.store(true, Ordering::SeqCst);
        self.keeper.demand.notify_one();
    }
}

impl Leases {
    /// Stops, and gives every slot back to the store before returning when no flow
    /// holds one (a client being dropped: its process may exit right after). Waits
    /// at most two request timeouts.
    pub(crate) fn stop_now(&self) {
        self.stop();
        let keeper = Arc::clone(&self.keeper);
        if keeper.limiter.in_flight() > 0 || keeper.store.health.is_down() {
            return;
        }
        let store = Arc::clone(&keeper.store);
        let _ = store.run_blocking(async move {
            let max = keeper.max.load(Ordering::SeqCst);
            let lease = Duration::from_millis(keeper.lease_ms.load(Ordering::SeqCst));
            keeper.set_local(0);
            keeper.held.store(0, Ordering::SeqCst);
            keeper
                .ask(Ask {
                    wanted: 0,
                    max,
                    lease,
                    demand: 0,
                    running: 0,
                })
                .await
        });
    }
}

impl Drop for Leases {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Keeper {
    /// The local limiter's `max` (what this instance may run), with a queue of `queue`
    /// plus `max` (flows that wait for the store's answer).
    fn set_local(&self, max: usize) {
        let queue = self.queue.load(Ordering::SeqCst);
        self.limiter.update(ConcurrencySpec {
            max,
            queue: queue.saturating_add(self.max.load(Ordering::SeqCst)),
        });
    }

    /// The local limiter's `max` and queue, as they are.
    fn set_local_exactly(&self, max: usize, queue: usize) {
        self.limiter.update(ConcurrencySpec { max, queue });
    }

    async fn keep(self: Arc<Self>) {
        let mut renewed = Instant::now();
        let mut busy = Instant::now();
        let mut by_policy = false;
        loop {
            let wait = if self.limiter.waiting() > 0 {
                POLL
            } else {
                TICK
            };
            let _ = tokio::time::timeout(wait, self.demand.notified()).await;
            let (in_flight, waiting) = (self.limiter.in_flight(), self.limiter.waiting());
            let stopping = self.stopping.load(Ordering::SeqCst);
            if in_flight > 0 || waiting > 0 {
                busy = Instant::now();
            }
            if self.store.health.is_down() {
                self.by_policy();
                by_policy = true;
                if stopping && in_flight == 0 {
                    return;
                }
                continue;
            }
            let max = self.max.load(Ordering::SeqCst);
            let spare = if stopping || busy.elapsed() >= IDLE {
                0
            } else {
                self.spare()
            };
            let target = (in_flight + waiting + spare).min(max);
            let held = self.held.load(Ordering::SeqCst);
            let lease = Duration::from_millis(self.lease_ms.load(Ordering::SeqCst));
            let renew = held > 0 && renewed.elapsed() >= renew_every(lease);
            if target == held && !renew && !by_policy {
                if stopping && held == 0 && in_flight == 0 {
                    return;
                }
                continue;
            }
            if target < held {
                // Fewer slots: locally first, so that no flow takes one the store no
                // longer counts.
                self.set_local(target);
                self.held.store(target, Ordering::SeqCst);
            }
            let asked = Ask {
                wanted: target,
                max,
                lease,
                demand: in_flight + waiting,
                running: self.limiter.in_flight(),
            };
            let Some((granted, others, record)) = self.ask(asked).await else {
                self.by_policy();
                by_policy = true;
                continue;
            };
            by_policy = false;
            renewed = Instant::now();
            // New flows run on `granted` slots; the store counts `record`, which may
            // be more while flows admitted before a fair share lowered it still run.
            self.set_local(granted);
            self.held.store(record, Ordering::SeqCst);
            self.free
                .store(max.saturating_sub(others + record), Ordering::SeqCst);
            if granted < target {
                // The fleet is full: only `queue` flows may wait for a slot.
                self.limiter
                    .refuse_beyond(self.queue.load(Ordering::SeqCst));
            }
            if stopping && granted == 0 && self.limiter.in_flight() == 0 {
                return;
            }
        }
    }

    /// Spare slots to hold: a share of the fleet's free slots.
    fn spare(&self) -> usize {
        let free = self.free.load(Ordering::SeqCst);
        let instances = usize::try_from(self.store.instances()).unwrap_or(1);
        (free / (2 * instances)).min(MAX_SPARE)
    }

    /// Asks the store; `(granted, others' slots, what the store counts for this one)`.
    async fn ask(&self, ask: Ask) -> Option<(usize, usize, usize)> {
        let count = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        let args = [
            count(ask.wanted),
            count(ask.max),
            millis(ask.lease),
            count(ask.demand),
            count(ask.running),
        ];
        let keys = [
            self.keys[0].as_str(),
            self.keys[1].as_str(),
            self.keys[2].as_str(),
        ];
        let instance = Some(self.store.instance());
        let reply: (i64, i64, i64) = self.store.run(&SCRIPT, &keys, instance, &args).await?;
        let count = |n: i64| usize::try_from(n).unwrap_or(0);
        Some((count(reply.0), count(reply.1), count(reply.2)))
    }

    /// The local limiter as `on_store_error` says while the store is down. Slots held
    /// in the store are forgotten: its leases end by themselves.
    fn by_policy(&self) {
        self.held.store(0, Ordering::SeqCst);
        let max = self.max.load(Ordering::SeqCst);
        match self.store.on_error {
            OnStoreError::Local => {
                let instances = usize::try_from(self.store.instances()).unwrap_or(1);
                let queue = self.queue.load(Ordering::SeqCst);
                self.set_local_exactly(max.div_ceil(instances.max(1)), queue);
            }
            OnStoreError::Accept => self.set_local_exactly(usize::MAX >> 2, 0),
            OnStoreError::Reject => {
                self.set_local_exactly(0, 0);
                self.limiter.refuse_beyond(0);
            }
        }
    }
}
