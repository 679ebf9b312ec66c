//! Every call a client's AWS SDK puts on the wire. A [`Recorder`] is an SDK interceptor on the
//! DynamoDB and SQS clients it builds. For each call it keeps the operation, the request body,
//! the HTTP status and the items a read returned (from the deserialised output), and how long at
//! least one call was on the wire (request written to response received), so that a handler's
//! wall time less the wire time is its own time. The end-to-end tests check what a run asked
//! for (`sweeper_iam.rs`); the bench's examples turn the same calls into units and prices.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextRef,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

/// An item as DynamoDB returns it.
pub type Item = HashMap<String, AttributeValue>;

/// One call as it went on the wire.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    /// `BatchGetItem`, `SendMessage`, ...
    pub op: String,
    /// The request body (JSON: both DynamoDB and SQS speak JSON to the SDKs used here).
    pub request: Value,
    /// The HTTP status of the answer; 0 when none came.
    pub status: u16,
    /// The items a read returned (BatchGetItem, GetItem, Query), as returned.
    pub returned: Vec<Item>,
}

impl Call {
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    /// Calls sent whose answer has not been deserialised yet (index of the oldest first).
    open: Vec<usize>,
    in_flight: usize,
    since: Option<Instant>,
    wire: Duration,
}

/// Records every call of the clients it is installed on (see the module's documentation).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<State>>);

impl Recorder {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock leaves the data usable: only counters and a list.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The calls since the last `take`, and the time at least one of them was on the wire.
    pub fn take(&self) -> (Vec<Call>, Duration) {
        let mut state = self.state();
        state.open.clear();
        (
            std::mem::take(&mut state.calls),
            std::mem::take(&mut state.wire),
        )
    }

    /// A DynamoDB client of `config` with this recorder.
    pub fn dynamodb(&self, config: &aws_config::SdkConfig) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(config)
                .interceptor(self.clone())
                .build(),
        )
    }

    /// An SQS client of `config` with this recorder.
    pub fn sqs(&self, config: &aws_config::SdkConfig) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(config)
                .interceptor(self.clone())
                .build(),
        )
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "recorder::Recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let target = request.headers().get("x-amz-target").unwrap_or_default();
        let op = target.rsplit('.').next().unwrap_or(target).to_owned();
        let body = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        let mut state = self.state();
        state.calls.push(Call {
            op,
            request: body,
            status: 0,
            returned: Vec::new(),
        });
        let index = state.calls.len() - 1;
        state.open.push(index);
        if state.in_flight == 0 {
            state.since = Some(Instant::now());
        }
        state.in_flight += 1;
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut state = self.state();
        state.in_flight = state.in_flight.saturating_sub(1);
        if state.in_flight == 0 {
            if let Some(since) = state.since.take() {
                state.wire += since.elapsed();
            }
        }
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, query::QueryOutput,
        };
        let status = context.response().status().as_u16();
        // The items a read returned, from its deserialised output.
        let returned: Vec<Item> = match context.output_or_error() {
            Ok(output) => {
                if let Some(out) = output.downcast_ref::<BatchGetItemOutput>() {
                    out.responses
                        .iter()
                        .flat_map(|tables| tables.values().flatten().cloned())
                        .collect()
                } else if let Some(out) = output.downcast_ref::<QueryOutput>() {
                    out.items().to_vec()
                } else if let Some(out) = output.downcast_ref::<GetItemOutput>() {
                    out.item.clone().into_iter().collect()
                } else {
                    Vec::new()
                }
            }
            Err(_) => Vec::new(),
        };
        let mut state = self.state();
        // Calls are answered in the order they were sent (a function makes them one at a
        // time): the oldest open one is this one.
        if !state.open.is_empty() {
            let index = state.open.remove(0);
            if let Some(call) = state.calls.get_mut(index) {
                call.status = status;
                call.returned = returned;
            }
        }
        Ok(())
    }
}
