//! AWS's on-demand prices in us-east-1 and the arithmetic from what a notification uses (units,
//! requests, milliseconds) to USD per million notifications: the cost table of
//! `cargo run -p perf-bench --example cost` (bench/README.md, "Cost per notification"; where
//! each price comes from: bench/METHOD.md, "Prices").
//!
//! Free tiers are left out (they matter only below a few million requests a month), and so are
//! the volume tiers above the first (300 million HTTP API requests, 7.5 billion Lambda GB-s a
//! month): the figures are the first tier's, the worst case per request.

use std::time::Duration;

/// Prices in USD.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    /// DynamoDB on-demand, Standard table class: per million write request units.
    pub dynamodb_write_units_per_million: f64,
    /// DynamoDB on-demand, Standard table class: per million read request units.
    pub dynamodb_read_units_per_million: f64,
    /// SQS FIFO: per million requests (a request being a 64 KB chunk of payload).
    pub sqs_fifo_per_million: f64,
    /// Lambda: per million invocations.
    pub lambda_requests_per_million: f64,
    /// Lambda on arm64 (what `template.yaml` deploys): per GB-second, first tier.
    pub lambda_gb_second: f64,
    /// API Gateway HTTP API (what `template.yaml` deploys): per million requests, first tier.
    pub http_api_per_million: f64,
}

/// us-east-1, on demand, as read on [`READ_ON`] (see [`SOURCES`]).
pub const US_EAST_1: Prices = Prices {
    dynamodb_write_units_per_million: 0.625,
    dynamodb_read_units_per_million: 0.125,
    sqs_fifo_per_million: 0.50,
    lambda_requests_per_million: 0.20,
    lambda_gb_second: 0.000_013_333_4,
    http_api_per_million: 1.00,
};

/// When the prices were read.
pub const READ_ON: &str = "2026-11-28";

/// Where each price comes from.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    pub service: &'static str,
    pub price: &'static str,
    /// AWS's page.
    pub url: &'static str,
    /// How the figure was confirmed.
    pub note: &'static str,
}

pub const SOURCES: [Source; 4] = [
    Source {
        service: "DynamoDB on-demand (Standard table class)",
        price: "$0.625 per million write request units, $0.125 per million read request units",
        url: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
        note: "AWS's page as stored states the unit rules but not the figures (its price table \
               is drawn by script); the figures are the post-November-2024 prices as quoted by \
               airbyte.com/data-engineering-resources/dynamodb-pricing (2025-07-21)",
    },
    Source {
        service: "SQS FIFO",
        price: "$0.50 per million requests; each 64 KB chunk of a payload is one request",
        url: "https://aws.amazon.com/sqs/pricing/",
        note: "AWS's page is not in the stored pages; figure and chunk rule as quoted by \
               cloudburn.io/blog/amazon-sqs-pricing (prices as of 2026-03) and \
               factualminds.com/blog/amazon-sqs-pricing-64kb-rule-fifo-vs-standard (2026-06-13)",
    },
    Source {
        service: "Lambda (arm64)",
        price: "$0.20 per million requests, $0.0000133334 per GB-second; duration rounded up to \
                the nearest 1 ms",
        url: "https://aws.amazon.com/lambda/pricing/",
        note: "AWS's page as stored gives the 1 ms rounding and the worked examples (x86 rate); \
               the arm64 rate as quoted by cloudchipr.com/blog/aws-lambda-pricing",
    },
    Source {
        service: "API Gateway HTTP API",
        price: "$1.00 per million requests (first 300 million a month), metered in 512 KB \
                increments",
        url: "https://aws.amazon.com/api-gateway/pricing/",
        note: "AWS's whitepaper (best-practices-api-gateway-private-apis-integration, cost \
               optimization) gives the 512 KB metering; the figure as quoted by \
               apigatewaycost.com/aws and awsforengineers.com (2025-05-19)",
    },
];

/// Lambda's billed duration of a run that took `duration`: rounded up to the next
/// millisecond, at least one.
pub fn billed_ms(duration: Duration) -> u64 {
    let ms = duration.as_nanos().div_ceil(1_000_000);
    u64::try_from(ms).unwrap_or(u64::MAX).max(1)
}

/// GB-seconds of `billed_ms` milliseconds at `memory_mb` (Lambda counts 1 GB as 1,024 MB).
pub fn gb_seconds(billed_ms: u64, memory_mb: u32) -> f64 {
    f64::from(memory_mb) / 1024.0 * billed_ms as f64 / 1000.0
}

/// A function's duration when its own work takes `own` and it waits `round_trips` times on a
/// service `latency` away (one call at a time).
pub fn duration(own: Duration, round_trips: usize, latency: Duration) -> Duration {
    own + latency * u32::try_from(round_trips).unwrap_or(u32::MAX)
}

/// SQS requests billed for one API call carrying `payload_bytes`: one per started 64 KB chunk
/// (64 KB = 65,536 bytes), at least one.
pub fn sqs_requests(payload_bytes: usize) -> u64 {
    (payload_bytes.div_ceil(64 * 1024).max(1)) as u64
}

/// HTTP API requests billed for one request of `bytes`: one per started 512 KB, at least one.
pub fn http_api_requests(bytes: usize) -> u64 {
    (bytes.div_ceil(512 * 1024).max(1)) as u64
}

/// What one notification (of one outcome) uses.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    pub read_units: f64,
    pub write_units: f64,
    pub sqs_requests: u64,
    pub lambda_invocations: u64,
    pub gb_seconds: f64,
    pub api_requests: u64,
}

/// USD per million notifications, per service.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Bill {
    pub dynamodb: f64,
    pub sqs: f64,
    pub lambda: f64,
    pub api_gateway: f64,
}

impl Bill {
    pub fn total(&self) -> f64 {
        self.dynamodb + self.sqs + self.lambda + self.api_gateway
    }
}

/// What a million notifications using `usage` each cost at `prices`. A price per million of a
/// unit times the units one notification uses is the price of a million notifications.
pub fn per_million(usage: &Usage, prices: &Prices) -> Bill {
    Bill {
        dynamodb: usage.read_units * prices.dynamodb_read_units_per_million
            + usage.write_units * prices.dynamodb_write_units_per_million,
        sqs: usage.sqs_requests as f64 * prices.sqs_fifo_per_million,
        lambda: usage.lambda_invocations as f64 * prices.lambda_requests_per_million
            + usage.gb_seconds * 1e6 * prices.lambda_gb_second,
        api_gateway: usage.api_requests as f64 * prices.http_api_per_million,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-9 * b.abs().max(1.0)
    }

    #[test]
    fn duration_is_billed_by_the_started_millisecond() {
        // "rounded up to the nearest 1 ms": 1.0001 ms is billed 2 ms.
        assert_eq!(billed_ms(Duration::from_nanos(1_000_100)), 2);
        assert_eq!(billed_ms(Duration::from_millis(3)), 3);
        assert_eq!(billed_ms(Duration::from_micros(200)), 1);
        assert_eq!(billed_ms(Duration::ZERO), 1);
    }

    /// AWS's Lambda pricing page, examples 1 and 2 (US East, the x86 rate of the time,
    /// $0.00001667 per GB-s, free tier 400,000 GB-s and 1M requests a month).
    #[test]
    fn lambda_matches_the_pages_worked_examples() {
        let example = Prices {
            lambda_requests_per_million: 0.20,
            lambda_gb_second: 0.000_016_67,
            ..US_EAST_1
        };
        // Example 1: 512 MB, 3 million runs of 1 s: "Total compute (GB-s) = 1,500,000";
        // less the free tier, "1,100,000 * $0.00001667 = $18.34"; requests "2M * $0.2/M =
        // $0.40".
        let one = gb_seconds(billed_ms(Duration::from_secs(1)), 512);
        assert!(close(one * 3e6, 1_500_000.0));
        let billable = Usage {
            lambda_invocations: 2,
            gb_seconds: (one * 3e6 - 400_000.0) / 1e6,
            ..Usage::default()
        };
        let bill = per_million(&billable, &example);
        assert_eq!(format!("{:.2}", bill.lambda), "18.74");
        // Example 2: 128 MB, 30 million runs of 200 ms: 750,000 GB-s; less the free tier
        // 350,000 × $0.00001667 = $5.83, and 29M requests × $0.2/M = $5.80: "$11.63".
        let two = gb_seconds(billed_ms(Duration::from_millis(200)), 128);
        assert!(close(two * 30e6, 750_000.0));
        let billable = Usage {
            lambda_invocations: 29,
            gb_seconds: (two * 30e6 - 400_000.0) / 1e6,
            ..Usage::default()
        };
        assert_eq!(
            format!("{:.2}", per_million(&billable, &example).lambda),
            "11.63"
        );
    }

    #[test]
    fn payloads_are_billed_by_their_chunks() {
        // SQS: "an API action with a 256 KB payload is billed as 4 requests".
        assert_eq!(sqs_requests(256 * 1024), 4);
        assert_eq!(sqs_requests(64 * 1024), 1);
        assert_eq!(sqs_requests(64 * 1024 + 1), 2);
        assert_eq!(sqs_requests(0), 1);
        // HTTP API: "513 KB is metered as two requests".
        assert_eq!(http_api_requests(513 * 1024), 2);
        assert_eq!(http_api_requests(512 * 1024), 1);
        assert_eq!(http_api_requests(327), 1);
    }

    #[test]
    fn a_million_notifications_cost_their_units_at_the_price_per_million() {
        // Hand-computed: 10 WRU × $0.625 + 2 RRU × $0.125 = $6.50; one FIFO send $0.50; one
        // invocation $0.20 plus 40 ms at 128 MB = 0.005 GB-s × 1e6 × $0.0000133334 = $0.066667;
        // one HTTP API request $1.00. Total $8.266667.
        let usage = Usage {
            read_units: 2.0,
            write_units: 10.0,
            sqs_requests: 1,
            lambda_invocations: 1,
            gb_seconds: gb_seconds(40, 128),
            api_requests: 1,
        };
        assert!(close(usage.gb_seconds, 0.005));
        let bill = per_million(&usage, &US_EAST_1);
        assert!(close(bill.dynamodb, 6.5));
        assert!(close(bill.sqs, 0.5));
        assert!(close(bill.lambda, 0.266_667));
        assert!(close(bill.api_gateway, 1.0));
        assert!(close(bill.total(), 8.266_667));
        // An eventually consistent read of under 4 KB is half a unit: $0.0625 a million.
        let half = Usage {
            read_units: 0.5,
            ..Usage::default()
        };
        assert!(close(per_million(&half, &US_EAST_1).dynamodb, 0.0625));
    }

    #[test]
    fn duration_adds_one_latency_per_round_trip() {
        let d = duration(Duration::from_micros(1_500), 4, Duration::from_millis(10));
        assert_eq!(d, Duration::from_micros(41_500));
        assert_eq!(billed_ms(d), 42);
    }
}
