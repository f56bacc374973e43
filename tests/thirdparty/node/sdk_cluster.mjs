// Drives a propolis cluster (a separate gateway in front of several brokers) with
// @camunda8/sdk's Zeebe gRPC client, unmodified.
//
//   ZEEBE_GRPC_ADDRESS=grpc://127.0.0.1:26500 CAMUNDA_AUTH_STRATEGY=NONE \
//   CAMUNDA_SECURE_CONNECTION=false node sdk_cluster.mjs path/to/bpmn/dir INSTANCES_PER_ROUND
//
// Deploys one_task.bpmn, runs a worker, and creates two rounds of instances with result, the
// second only after the first has completed: the first round may race the deployment's
// distribution to the other partitions, the second should not. Prints one line
// `SUMMARY {...}` that tests/thirdparty/test_cluster_clients.py checks; keys are strings
// because they are 64-bit.
import { Camunda8 } from '@camunda8/sdk'
import path from 'node:path'

const bpmnDir = process.argv[2]
const perRound = Number(process.argv[3])
if (!bpmnDir || !(perRound > 0)) {
  console.error('usage: node sdk_cluster.mjs BPMN_DIR INSTANCES_PER_ROUND')
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

const round = async (numbers) => {
  const results = await withTimeout(
    Promise.all(
      numbers.map((n) =>
        zbc.createProcessInstanceWithResult({
          bpmnProcessId: 'one-task',
          variables: { n },
          requestTimeout: 30000,
        }),
      ),
    ),
    60000,
    'create with result',
  )
  return results.map((r) => ({ key: String(r.processInstanceKey), variables: r.variables }))
}

try {
  const topology = await withTimeout(zbc.topology(), 20000, 'topology')
  summary.topology = {
    clusterSize: topology.clusterSize,
    partitionsCount: topology.partitionsCount,
    leaders: Object.fromEntries(
      topology.brokers.map((b) => [
        String(b.nodeId),
        b.partitions.filter((p) => p.role === 'LEADER').map((p) => p.partitionId).sort(),
      ]),
    ),
  }

  const deployed = await withTimeout(
    zbc.deployResource({ processFilename: path.join(bpmnDir, 'one_task.bpmn') }),
    20000,
    'deploy',
  )
  summary.deployed = deployed.deployments.map((d) => d.process.bpmnProcessId)

  const handled = []
  worker = zbc.createWorker({
    taskType: 'work',
    timeout: 30000,
    pollInterval: 100,
    taskHandler: (job) => {
      handled.push(job.variables.n)
      return job.complete({ doubled: job.variables.n * 2, by: 'camunda8-sdk' })
    },
  })

  const numbers = [...Array(2 * perRound).keys()]
  summary.rightAfterDeploy = await round(numbers.slice(0, perRound))
  summary.later = await round(numbers.slice(perRound))
  summary.handled = handled.sort((a, b) => a - b)
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
