//! What the `units` and `cost` examples start from: the tests' local server, and DynamoDB and
//! SQS clients whose calls the tests' recorder keeps, handed over as calls to bill.

use std::sync::Arc;
use std::time::Duration;

use perf_bench::metering::{Call, Table};
use pipeline_tests::recorder::Recorder;
use webhook_aws::table::attr;

pub struct Metered {
    pub local: pipeline_tests::Local,
    recorder: Recorder,
    pub dynamo: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
}

impl Metered {
    pub async fn start() -> Self {
        let local = pipeline_tests::Local::new().await;
        let recorder = Recorder::default();
        let base = pipeline_tests::sdk_config(&pipeline_tests::moto().endpoint).await;
        let dynamo = recorder.dynamodb(&base);
        let sqs = recorder.sqs(&base);
        Metered {
            local,
            recorder,
            dynamo,
            sqs,
        }
    }

    /// The front door's table, as the tally reads items back from it.
    pub fn events_table(&self) -> Table<'_> {
        Table {
            client: &self.local.dynamo,
            name: &self.local.table,
            key: &[attr::PK, attr::SK],
        }
    }

    /// The calls recorded since the last `take`, as calls to bill, and the time at least one
    /// of them was on the wire.
    pub fn take(&self) -> (Vec<Call>, Duration) {
        let (calls, wire) = self.recorder.take();
        let calls = calls
            .into_iter()
            .map(|c| Call {
                op: c.op,
                request: c.request,
                status: c.status,
                returned: c.returned,
            })
            .collect();
        (calls, wire)
    }

    /// The `invoices` function on the recorded clients, judging by `clock`: sending to the
    /// queue, or (`queue_down`) to one that does not exist, so that every send fails.
    pub fn invoices(
        &self,
        clock: &webhook_core::clock::ManualClock,
        queue_down: bool,
    ) -> webhook_lambda::http::App<webhook_aws::DynamoStore, webhook_aws::SqsForwarder> {
        let queue_url = if queue_down {
            self.local.missing_queue_url()
        } else {
            self.local.queue_url.clone()
        };
        webhook_lambda::http::App {
            store: webhook_aws::DynamoStore::new(self.dynamo.clone(), &self.local.table),
            forwarder: webhook_aws::SqsForwarder::new(self.sqs.clone(), queue_url),
            delivery: webhook_lambda::http::Delivery {
                clock: Arc::new(clock.clone()),
                ..webhook_lambda::http::Delivery::default()
            },
            ..self
                .local
                .app(webhook_iugu::Iugu::family(webhook_iugu::Family::Invoices))
        }
    }
}
