//! Per-tenant budgets (DESIGN §5, invariant 9: no tenant can starve another). Each tenant may
//! start so many requests per second (a token bucket, with a burst) and run so many at once;
//! a request beyond either waits briefly for a slot, then is refused with HTTP 429 and
//! `RATE_LIMITED`, before it holds a database connection. What one request may cost is
//! bounded separately: query complexity (counts, chain verifications and exports priced by
//! the work they cause), root fields per operation, filter width, statement time.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

/// How much each tenant may do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Requests a tenant may start per second, sustained.
    pub rate_per_second: u32,
    /// Requests a tenant may start at once above the sustained rate.
    pub burst: u32,
    /// Requests of one tenant that run at the same time.
    pub concurrent: usize,
    /// How long a request waits for one of its tenant's slots before it is refused.
    pub queue: Duration,
}

/// Why a request was not admitted, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    pub retry_after: Duration,
}

/// The budgets of every tenant seen since start.
pub struct Budgets {
    limits: Limits,
    rate: DefaultKeyedRateLimiter<Uuid>,
    running: Mutex<HashMap<Uuid, Arc<Semaphore>>>,
}

/// A running request's slot; dropping it frees the slot.
pub struct Admitted(#[allow(dead_code)] OwnedSemaphorePermit);

impl Budgets {
    pub fn new(limits: Limits) -> Budgets {
        let one = NonZeroU32::MIN;
        let quota = Quota::per_second(NonZeroU32::new(limits.rate_per_second).unwrap_or(one))
            .allow_burst(NonZeroU32::new(limits.burst.max(limits.rate_per_second)).unwrap_or(one));
        Budgets {
            limits,
            rate: RateLimiter::keyed(quota),
            running: Mutex::new(HashMap::new()),
        }
    }

    /// Admits one request of `tenant`, or refuses it: over its rate at once, or when none of
    /// its slots frees up within the queue time.
    pub async fn admit(&self, tenant: Uuid) -> Result<Admitted, Refused> {
        if let Err(not_until) = self.rate.check_key(&tenant) {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            return Err(Refused {
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }
        let slots = {
            let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
            if running.len() > 10_000 {
                // Forget idle tenants now and then, so the map stays as large as the tenants
                // actually busy.
                running.retain(|_, slots| slots.available_permits() < self.limits.concurrent);
                self.rate.retain_recent();
            }
            running
                .entry(tenant)
                .or_insert_with(|| Arc::new(Semaphore::new(self.limits.concurrent.max(1))))
                .clone()
        };
        match tokio::time::timeout(self.limits.queue, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Admitted(permit)),
            _ => Err(Refused {
                retry_after: Duration::from_secs(1),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(rate: u32, concurrent: usize) -> Limits {
        Limits {
            rate_per_second: rate,
            burst: rate,
            concurrent,
            queue: Duration::from_millis(50),
        }
    }

    #[tokio::test]
    async fn a_tenant_over_its_rate_is_refused_and_another_is_not() {
        let budgets = Budgets::new(limits(3, 100));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        for _ in 0..3 {
            assert!(budgets.admit(a).await.is_ok());
        }
        let refused = budgets
            .admit(a)
            .await
            .err()
            .expect("the fourth is over the burst");
        assert!(refused.retry_after >= Duration::from_secs(1));
        assert!(
            budgets.admit(b).await.is_ok(),
            "another tenant's budget is its own"
        );
    }

    #[tokio::test]
    async fn a_tenant_with_every_slot_busy_waits_then_is_refused() {
        let budgets = Budgets::new(limits(1000, 2));
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let first = budgets.admit(a).await.expect("slot 1");
        let _second = budgets.admit(a).await.expect("slot 2");
        assert!(budgets.admit(a).await.is_err(), "no third slot");
        assert!(
            budgets.admit(b).await.is_ok(),
            "another tenant has its own slots"
        );
        drop(first);
        assert!(
            budgets.admit(a).await.is_ok(),
            "a freed slot is taken again"
        );
    }
}
