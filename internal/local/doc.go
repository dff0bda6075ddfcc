// Package local runs the whole pipeline on one machine, for `avatarctl
// local` and the end-to-end tests.
//
// A local stack is:
//   - moto_server (StartMoto) on a private loopback port, with Step
//     Functions execution on, so that moto runs the real state machine;
//   - the Gateway in front of it, the stack's AWS endpoint: Lambda Invoke
//     requests run the pipeline's three handlers in-process (Run mimics the
//     Lambda Go runtime: context, deadline, error types, panics); everything
//     else is proxied to moto. moto is started with the gateway's port as
//     its MOTO_PORT, so its Step Functions engine calls the functions, and
//     DynamoDB and SNS, back through the gateway;
//   - the resources (Provision), made from the template's own definitions
//     through the avatarpipeline package: the bucket, the event rule, the
//     table and its indexes, the topic, the secret, and the state machine
//     rendered with the template's substitutions;
//   - the Pump: moto cannot target a state machine from an EventBridge rule,
//     so the rule targets an SQS queue and the pump starts one execution per
//     event, with the event as input, as EventBridge would;
//   - a Webhook subscribed to the topic, and a progress log of the builds;
//   - the Mirako simulator (mirakotest), unless a real Mirako token is given.
//
// Start assembles all of it; Stack.Close takes it down, moto's whole process
// group included.
package local
