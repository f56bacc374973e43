// Drives propolis with @camunda8/sdk's Zeebe gRPC client, unmodified.
//
//   ZEEBE_GRPC_ADDRESS=grpc://127.0.0.1:26500 CAMUNDA_AUTH_STRATEGY=NONE \
//   CAMUNDA_SECURE_CONNECTION=false node sdk_smoke.mjs path/to/bpmn/dir
//
// Deploys, runs a worker that completes jobs while an instance is created with result,
// publishes a message to a waiting instance, cancels an instance, and prints one line
// `SUMMARY {...}` that tests/thirdparty/test_camunda8_sdk.py checks.
import { Camunda8 } from '@camunda8/sdk'
import path from 'node:path'

const bpmnDir = process.argv[2]
if (!bpmnDir) {
  console.error('usage: node sdk_smoke.mjs BPMN_DIR')
  process.exit(2)
}

const withTimeout = (promise, ms, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  ])

const c8 = new Camunda8() // configured from the environment
const zbc = c8.getZeebeGrpcApiClient()
const summary = {}
let worker

try {
  const topology = await withTimeout(zbc.topology(), 20000, 'topology')
  summary.topology = {
    clusterSize: topology.clusterSize,
    partitionsCount: topology.partitionsCount,
    roles: topology.brokers.flatMap((b) => b.partitions.map((p) => p.role)),
  }

  const deployed = await withTimeout(
    zbc.deployResources([
      { processFilename: path.join(bpmnDir, 'one_task.bpmn') },
      { processFilename: path.join(bpmnDir, 'waiting_task.bpmn') },
      { processFilename: path.join(bpmnDir, 'message_wait.bpmn') },
    ]),
    20000,
    'deploy',
  )
  summary.deployed = deployed.deployments
    .map((d) => `${d.process.bpmnProcessId}@${d.process.version}`)
    .sort()

  const handled = []
  worker = zbc.createWorker({
    taskType: 'work',
    timeout: 30000,
    pollInterval: 100,
    taskHandler: (job) => {
      handled.push(job.variables.n)
      return job.complete({ squared: job.variables.n * job.variables.n, by: 'camunda8-sdk' })
    },
  })

  const results = await withTimeout(
    Promise.all(
      [3, 4].map((n) =>
        zbc.createProcessInstanceWithResult({
          bpmnProcessId: 'one-task',
          variables: { n },
          requestTimeout: 20000,
        }),
      ),
    ),
    40000,
    'create with result',
  )
  summary.results = results.map((r) => r.variables)
  summary.handled = handled.sort()

  const waiting = zbc.createProcessInstanceWithResult({
    bpmnProcessId: 'wait-for-payment',
    variables: { orderId: 'sdk-1' },
    requestTimeout: 20000,
  })
  const published = await withTimeout(
    zbc.publishMessage({
      name: 'payment-received',
      correlationKey: 'sdk-1',
      variables: { paid: 'yes' },
      timeToLive: 60000,
    }),
    20000,
    'publish',
  )
  summary.messageKey = String(published.key)
  summary.messageResult = (await withTimeout(waiting, 30000, 'message result')).variables

  const created = await withTimeout(
    zbc.createProcessInstance({ bpmnProcessId: 'waiting-task', variables: {} }),
    20000,
    'create',
  )
  await withTimeout(zbc.cancelProcessInstance(created.processInstanceKey), 20000, 'cancel')
  summary.cancelled = String(created.processInstanceKey)
  summary.ok = true
} catch (error) {
  summary.ok = false
  summary.error = String(error && (error.stack || error.message || error))
} finally {
  if (worker) await withTimeout(worker.close(), 10000, 'worker close').catch(() => {})
  await withTimeout(zbc.close(), 10000, 'client close').catch(() => {})
}

console.log('SUMMARY ' + JSON.stringify(summary))
process.exit(summary.ok ? 0 : 1)
