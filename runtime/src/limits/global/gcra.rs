//! A global rate limit: GCRA in one Redis script, handed out to each instance in
//! batches of tokens.
//!
//! **The script** keeps one number per limit (and label value): the theoretical arrival
//! time of the next flow, in microseconds of the server's clock (`TIME`), so the clocks
//! of instances never matter. It grants up to the batch asked for, as many as the bucket
//! holds, and says how many it still holds and, when empty, when the next token is due.
//! The key expires once the bucket would be full again, so idle keys vanish.
//!
//! **Trick: batches.** An instance takes a batch of tokens in one round trip and hands
//! them to flows with one compare-and-swap each; when the batch runs low it fetches the
//! next in the background, so flows far from the limit never wait on the network.
//! **Benefit:** a gate on a global rate limit costs about what a local one does while the
//! limit is far from exhausted. **Cost, as a bound:** a batch may be used for
//! [`BATCH_LIFETIME`] after Redis granted it (then its tokens are dropped, unused), and
//! what is left of it when the next batch comes (a quarter at most) is used before that
//! one runs low; so a token is used at most two lifetimes (100 ms) after its grant, and
//! in any window of length `W` the fleet admits at most
//! `burst + limit × (W + 100 ms) / per`. Tokens dropped unused lower the admitted rate,
//! never raise it. Batches shrink as the
//! bucket empties (half the tokens left over the instances, at most twice what this
//! instance used from its last batch): near exhaustion each batch is one token, one
//! round trip per admitted flow, and a refused flow remembers the retry time, so
//! refused flows cost no round trip until it passes. A batch is sized to what this
//! instance used of its last one, per lifetime: flows that come seldom take one token
//! at a time and nothing is fetched ahead of them. Tokens that expire unused go back
//! to the bucket with the next request.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

use flowgate_config::OnStoreError;

use super::pending::Pending;
use super::store::Store;
use crate::clock::now_ns;
use crate::limits::rate::{RateLimiter, RateSpec};

/// The longest a granted token may wait for a flow before it is dropped.
pub(crate) const BATCH_LIFETIME: Duration = Duration::from_millis(50);

/// The most tokens one request takes.
pub(crate) const MAX_BATCH: u32 = 4096;

/// What a flow is told when the store is down and `on_store_error = "reject"`.
const STORE_DOWN_RETRY: Duration = Duration::from_secs(1);

static SCRIPT: LazyLock<redis::Script> = LazyLock::new(|| {
    redis::Script::new(
        r"
-- KEYS[1]: the bucket. ARGV: the interval between tokens (ns), the bucket's
-- capacity (burst × interval, ns), tokens wanted, tokens given back (granted
-- earlier, never used).
local interval = tonumber(ARGV[1]) / 1000
local capacity = tonumber(ARGV[2]) / 1000
local wanted = tonumber(ARGV[3])
local returned = tonumber(ARGV[4])
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat ~= tat then tat = now end
tat = tat - returned * interval
if tat < now then tat = now end
-- A bucket never owes more than its capacity (a value written by anyone else is
-- brought back within it).
if tat > now + capacity then tat = now + capacity end
local free = math.floor((now + capacity - tat) / interval + 1e-6)
if free < 1 then
  return {0, 0, math.ceil((tat + interval - capacity - now) * 1000)}
end
local granted = math.min(wanted, free)
tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%.3f', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {granted, free - granted, 0}
",
    )
});

/// What a flow gets from a global rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Take {
    /// A token.
    Taken,
    /// None left; one is due after this long.
    Limited(Duration),
    /// None in hand: wait for the next batch ([`GlobalRate::wait`]).
    Wait,
}

/// One global rate limit (of a flag, or of one label value of it) in this instance.
#[derive(Debug)]
pub(crate) struct GlobalRate {
    store: Arc<Store>,
    key: String,
    interval_ns: AtomicU64,
    capacity_ns: AtomicU64,
    /// Tokens of the current batch left, and until when they may be used (`now_ns`).
    tokens: AtomicU32,
    valid_until: AtomicU64,
    /// Refused by the store until then (`now_ns`): no flow asks before, unless the
    /// store came back since (its `epoch` moved: it may have lost the bucket).
    denied_until: AtomicU64,
    denied_epoch: AtomicU64,
    /// The size of the next batch, and of the last one, and when that came (`now_ns`).
    want: AtomicU32,
    last_batch: AtomicU32,
    batch_at: AtomicU64,
    refilling: AtomicBool,
    /// Bumped when a refill is over, whatever its outcome.
    refilled: tokio::sync::watch::Sender<u64>,
    /// The limit divided by the instances, for `on_store_error = "local"`, and the
    /// number of instances it was divided by.
    local: RateLimiter,
    divided_by: AtomicU32,
    spec: std::sync::Mutex<RateSpec>,
}

impl GlobalRate {
    pub(crate) fn new(store: Arc<Store>, key: String, spec: RateSpec) -> Self {
        let instances = store.instances();
        Self {
            key,
            interval_ns: AtomicU64::new(spec.interval()),
            capacity_ns: AtomicU64::new(spec.interval().saturating_mul(spec.burst.max(1))),
            tokens: AtomicU32::new(0),
            valid_until: AtomicU64::new(0),
            denied_until: AtomicU64::new(0),
            denied_epoch: AtomicU64::new(0),
            want: AtomicU32::new(1),
            last_batch: AtomicU32::new(0),
            batch_at: AtomicU64::new(0),
            refilling: AtomicBool::new(false),
            refilled: tokio::sync::watch::Sender::new(0),
            local: RateLimiter::continuing(divided(spec, instances), 0),
            divided_by: AtomicU32::new(instances),
            spec: std::sync::Mutex::new(spec),
            store,
        }
    }

    /// Applies new parameters (a reload): the next request uses them.
    pub(crate) fn update(&self, spec: RateSpec) {
        self.interval_ns.store(spec.interval(), Ordering::Relaxed);
        self.capacity_ns.store(
            spec.interval().saturating_mul(spec.burst.max(1)),
            Ordering::Relaxed,
        );
        let instances = self.store.instances();
        self.local.update(divided(spec, instances), now_ns());
        self.divided_by.store(instances, Ordering::Relaxed);
        *self
            .spec
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = spec;
    }

    /// A token from the batch in hand, or what to do without one. Never waits.
    #[inline]
    pub(crate) fn try_take(self: &Arc<Self>, now: u64) -> Take {
        if self.store.health.is_down() {
            return self.by_policy(now);
        }
        if now < self.valid_until.load(Ordering::Acquire) {
            let taken = self
                .tokens
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
            if let Ok(before) = taken {
                // Running low: fetch the next batch before flows have to wait for it
                // (batches of four or more: smaller ones are for flows that come
                // seldom, and a batch fetched ahead of them would expire unused).
                let low_water = self.low_water();
                if before - 1 == low_water && low_water > 0 {
                    self.start_refill();
                }
                return Take::Taken;
            }
        }
        let denied_until = self.denied_until.load(Ordering::Acquire);
        if now < denied_until
            && self.denied_epoch.load(Ordering::Relaxed) == self.store.health.epoch()
        {
            return Take::Limited(Duration::from_nanos(denied_until - now));
        }
        Take::Wait
    }

    /// Tokens left at which the next batch is fetched: a quarter of the last.
    fn low_water(&self) -> u32 {
        self.last_batch.load(Ordering::Relaxed) / 4
    }

    /// The answer of `on_store_error` while the store is down.
    fn by_policy(&self, now: u64) -> Take {
        self.store.health.decided_by_policy();
        match self.store.on_error {
            OnStoreError::Accept => Take::Taken,
            OnStoreError::Reject => Take::Limited(STORE_DOWN_RETRY),
            OnStoreError::Local => {
                let instances = self.store.instances();
                if self.divided_by.swap(instances, Ordering::Relaxed) != instances {
                    let spec = *self
                        .spec
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                    self.local.update(divided(spec, instances), now);
                }
                match self.local.try_acquire(now) {
                    Ok(()) => Take::Taken,
                    Err(retry_after) => Take::Limited(retry_after),
                }
            }
        }
    }

    /// Waits for a token until `deadline`: for the batch being fetched, or fetches one.
    /// A flow whose deadline passes first is decided by `on_store_error` (the store did
    /// not answer in its time).
    pub(crate) fn wait(self: &Arc<Self>, deadline: Instant) -> Pending<Take> {
        let rate = Arc::clone(self);
        Pending::spawn(&self.store, async move {
            let mut refilled = rate.refilled.subscribe();
            loop {
                refilled.mark_unchanged();
                match rate.try_take(now_ns()) {
                    Take::Wait => {}
                    answer => return answer,
                }
                rate.start_refill();
                if tokio::time::timeout_at(deadline.into(), refilled.changed())
                    .await
                    .is_err()
                {
                    return rate.by_policy(now_ns());
                }
            }
        })
    }

    /// Starts fetching a batch unless one is being fetched.
    fn start_refill(self: &Arc<Self>) {
        if self.refilling.swap(true, Ordering::AcqRel) {
            return;
        }
        let rate = Arc::clone(self);
        self.store.spawn(async move {
            rate.refill().await;
            rate.refilling.store(false, Ordering::Release);
            rate.refilled.send_modify(|generation| *generation += 1);
        });
    }

    async fn refill(&self) {
        let want = self.want.load(Ordering::Relaxed).clamp(1, MAX_BATCH);
        // Tokens of the last batch still valid are kept (at most a quarter of it, when
        // the refill was started early): they are used before this batch runs low
        // again, so no token is used more than two lifetimes after its grant. Tokens
        // that expired unused go back to the bucket with this request.
        let asked_at = now_ns();
        let still_valid = asked_at < self.valid_until.swap(0, Ordering::AcqRel);
        let unused = self.tokens.swap(0, Ordering::AcqRel);
        let (carried, returned) = if still_valid {
            (unused, 0)
        } else {
            (0, unused)
        };
        let args = [
            i64::try_from(self.interval_ns.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
            i64::try_from(self.capacity_ns.load(Ordering::Relaxed)).unwrap_or(i64::MAX),
            i64::from(want),
            i64::from(returned),
        ];
        let reply: Option<(i64, i64, i64)> =
            self.store.run(&SCRIPT, &[&self.key], None, &args).await;
        let now = now_ns();
        let (granted, left) = match reply {
            Some((granted, left, _)) if granted > 0 => (granted, left),
            Some((_, _, retry_ns)) => {
                // Never longer than the bucket takes to refill from empty, whatever
                // the reply.
                let longest = self.capacity_ns.load(Ordering::Relaxed);
                let retry = u64::try_from(retry_ns)
                    .unwrap_or(0)
                    .clamp(1, longest.max(1));
                self.denied_epoch
                    .store(self.store.health.epoch(), Ordering::Relaxed);
                self.denied_until
                    .store(now.saturating_add(retry), Ordering::Release);
                self.want.store(1, Ordering::Relaxed);
                self.keep(carried, asked_at);
                return;
            }
            None => {
                self.keep(carried, asked_at);
                return;
            }
        };
        let granted = u32::try_from(granted).unwrap_or(MAX_BATCH).min(MAX_BATCH);
        // The next batch: what this instance used of its last one, scaled to a
        // lifetime (a batch used up in a tenth of it could be ten times larger; at most
        // doubled each time), within a share of what the bucket has left.
        let used = u64::from(
            self.last_batch
                .load(Ordering::Relaxed)
                .saturating_sub(unused),
        );
        let took = asked_at
            .saturating_sub(self.batch_at.load(Ordering::Relaxed))
            .max(1);
        let per_lifetime = used.saturating_mul(nanos(BATCH_LIFETIME)) / took;
        let share =
            u64::try_from(left.max(0)).unwrap_or(0) / (2 * u64::from(self.store.instances()));
        let next = per_lifetime
            .min(used * 2 + 2)
            .min(share)
            .clamp(1, u64::from(MAX_BATCH));
        self.want
            .store(u32::try_from(next).unwrap_or(MAX_BATCH), Ordering::Relaxed);
        self.last_batch
            .store(granted.saturating_add(carried), Ordering::Relaxed);
        self.batch_at.store(now, Ordering::Relaxed);
        self.denied_until.store(0, Ordering::Release);
        self.tokens
            .store(granted.saturating_add(carried), Ordering::Release);
        self.valid_until
            .store(now.saturating_add(nanos(BATCH_LIFETIME)), Ordering::Release);
    }

    /// Puts back the still valid tokens a refill took out, valid as they were (until a
    /// lifetime after `asked_at` at most).
    fn keep(&self, carried: u32, asked_at: u64) {
        if carried > 0 {
            self.tokens.fetch_add(carried, Ordering::AcqRel);
            self.valid_until.store(
                asked_at.saturating_add(nanos(BATCH_LIFETIME)),
                Ordering::Release,
            );
        }
    }
}

/// `spec` shared by `instances`: each enforces its part (at least one token).
fn divided(spec: RateSpec, instances: u32) -> RateSpec {
    let instances = u64::from(instances.max(1));
    RateSpec {
        limit: (spec.limit / instances).max(1),
        per: spec.per,
        burst: (spec.burst / instances).max(1),
    }
}

fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}
