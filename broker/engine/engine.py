"""The engine: which processor handles which command, and how one batch of commands is
turned into records. This table is the list of everything the broker reacts to.

Each command runs in its own nested LMDB transaction: if its processor fails with a bug, its
partial effects are rolled back and the command is answered with a PROCESSING_ERROR
rejection, while the rest of the batch goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from propolis.broker.engine.context import KeyGenerator, Outputs, ProcessingContext
from propolis.broker.engine.rejections import RejectionError
from propolis.broker.processing import (
    deployment,
    distribution,
    incident,
    job,
    job_batch,
    message,
    message_subscription,
    process_instance,
    process_instance_creation,
    process_instance_modification,
    resource_deletion,
    signals,
    timers,
    variable_document,
)
from propolis.broker.processing.services import Services
from propolis.broker.state import State

from propolis.records import (
    CommandDistributionIntent,
    DeploymentIntent,
    IncidentIntent,
    JobBatchIntent,
    JobIntent,
    MessageIntent,
    MessageSubscriptionIntent,
    ProcessInstanceCreationIntent,
    ProcessInstanceIntent,
    ProcessInstanceModificationIntent,
    ProcessMessageSubscriptionIntent,
    Record,
    RejectionType,
    ResourceDeletionIntent,
    SignalIntent,
    TimerIntent,
    ValueType,
    VariableDocumentIntent,
    intent_name,
)

log = logging.getLogger(__name__)

Processor = Callable[[ProcessingContext, Services], None]

PROCESSORS: dict[tuple[int, int], Processor] = {
    (ValueType.DEPLOYMENT, DeploymentIntent.CREATE): deployment.create_deployment,
    (ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE): process_instance_creation.create_instance,
    (ValueType.PROCESS_INSTANCE_CREATION, ProcessInstanceCreationIntent.CREATE_WITH_AWAITING_RESULT): process_instance_creation.create_instance,
    (ValueType.PROCESS_INSTANCE, ProcessInstanceIntent.CANCEL): process_instance.cancel_instance,
    (ValueType.JOB_BATCH, JobBatchIntent.ACTIVATE): job_batch.activate_jobs,
    (ValueType.JOB, JobIntent.COMPLETE): job.complete_job,
    (ValueType.JOB, JobIntent.FAIL): job.fail_job,
    (ValueType.JOB, JobIntent.THROW_ERROR): job.throw_error,
    (ValueType.JOB, JobIntent.UPDATE_RETRIES): job.update_retries,
    (ValueType.JOB, JobIntent.UPDATE_TIMEOUT): job.update_timeout,
    (ValueType.JOB, JobIntent.YIELD): job.yield_job,
    (ValueType.JOB, JobIntent.TIME_OUT): job.time_out_job,
    (ValueType.JOB, JobIntent.RECUR_AFTER_BACKOFF): job.recur_after_backoff,
    (ValueType.VARIABLE_DOCUMENT, VariableDocumentIntent.UPDATE): variable_document.update_variables,
    (ValueType.INCIDENT, IncidentIntent.RESOLVE): incident.resolve_incident,
    (ValueType.MESSAGE, MessageIntent.PUBLISH): message.publish_message,
    (ValueType.MESSAGE, MessageIntent.EXPIRE): message.expire_message,
    (ValueType.TIMER, TimerIntent.TRIGGER): timers.trigger_timer,
    (ValueType.SIGNAL, SignalIntent.BROADCAST): signals.broadcast_signal,
    (ValueType.PROCESS_INSTANCE_MODIFICATION, ProcessInstanceModificationIntent.MODIFY): process_instance_modification.modify_instance,
    (ValueType.RESOURCE_DELETION, ResourceDeletionIntent.DELETE): resource_deletion.delete_resource,
    # Sent by other partitions (processing/distribution.py).
    (ValueType.DEPLOYMENT, DeploymentIntent.DISTRIBUTE): deployment.receive_deployment,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CREATE): message_subscription.create,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.CORRELATE): message_subscription.correlated,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.REJECT): message_subscription.reject,
    (ValueType.MESSAGE_SUBSCRIPTION, MessageSubscriptionIntent.DELETE): message_subscription.delete,
    (ValueType.PROCESS_MESSAGE_SUBSCRIPTION, ProcessMessageSubscriptionIntent.CORRELATE): message_subscription.correlate_at_instance,
    (ValueType.COMMAND_DISTRIBUTION, CommandDistributionIntent.ACKNOWLEDGE): distribution.acknowledge,
}


class Engine:
    def __init__(self, state: State, services: Services, keys: KeyGenerator) -> None:
        self.state = state
        self.services = services
        self.keys = keys
        # Create-with-result requests waiting for their instance, by process instance key.
        # Held in memory only: a request does not outlive the broker process that took it.
        self.awaiting_results: dict[int, dict[str, Any]] = {}

    def process_batch(self, batch_txn: Any, commands: list[Record], first_position: int) -> Outputs:
        """Turn commands into records (positions from `first_position`), applying events to
        `batch_txn` as they are written, so later commands see earlier effects."""
        outputs = Outputs()
        position = first_position
        tables = self.state.tables
        tables.txn = batch_txn
        tables.push_overlay()
        for command in commands:
            command.position = position
            outputs.records.append(command)
            ctx = self._process_one(batch_txn, command, position + 1)
            outputs.records.extend(ctx.outputs.records)
            outputs.responses.extend(ctx.outputs.responses)
            outputs.job_types_available |= ctx.outputs.job_types_available
            outputs.sends.extend(ctx.outputs.sends)
            position = ctx.next_position
        tables.txn = batch_txn
        tables.merge_overlay()
        return outputs

    def _context(self, command: Record, next_position: int) -> ProcessingContext:
        return ProcessingContext(
            self.state, self.keys, Outputs(), command, next_position, self.awaiting_results,
            self.services.config.partition_count,
        )

    def _process_one(self, batch_txn: Any, command: Record, next_position: int) -> ProcessingContext:
        tables = self.state.tables
        env = tables.store.env
        sent_by = distribution.distributed_by(command)
        if sent_by is not None:
            taken = distribution.receipt(self.state, sent_by)
            if taken is not distribution.Receipt.TAKE:
                ctx = self._context(command, next_position)
                if taken is distribution.Receipt.DUPLICATE:  # taken before: acknowledge again
                    ctx.send(sent_by["sourcePartitionId"], distribution.acknowledgement(command.partition_id, sent_by))
                return ctx  # an early one waits for the resend, after those before it
        processor = PROCESSORS.get((command.value_type, command.intent))
        rejection: tuple[int, str] | None = None
        if processor is None:
            rejection = (
                RejectionType.INVALID_ARGUMENT,
                f"Expected a command the broker handles, but got {intent_name(command.value_type, command.intent)}",
            )
        while True:
            tables.txn = env.begin(write=True, parent=batch_txn)
            tables.push_overlay()
            ctx = self._context(command, next_position)
            try:
                if sent_by is not None:  # taken exactly once, whatever the processor decides
                    distribution.mark_received(ctx, sent_by)
                if rejection is None:
                    processor(ctx, self.services)
                else:
                    ctx.reject(*rejection)
                tables.merge_overlay()
                tables.txn.commit()
                tables.txn = batch_txn
                return ctx
            except RejectionError as error:
                tables.drop_overlay()
                tables.txn.abort()
                rejection = (error.rejection_type, error.reason)
            except Exception as error:  # a bug must not stop the partition: reject and go on
                tables.drop_overlay()
                tables.txn.abort()
                if rejection is not None:
                    raise
                log.exception("processing failed: %s", command.describe())
                rejection = (
                    RejectionType.PROCESSING_ERROR,
                    f"Expected to process command {intent_name(command.value_type, command.intent)}, "
                    f"but an internal error occurred: {error!r}",
                )
            finally:
                tables.txn = batch_txn
