// Package webhook is the webhook function: it POSTs each notification
// event to the user's URL, signed per Standard Webhooks
// (https://www.standardwebhooks.com), and retries failed deliveries for
// about a day.
//
// The notification topic feeds an SQS queue with raw message delivery, so
// a message's body is the JSON event itself, and the queue feeds this
// function through an event source mapping with ReportBatchItemFailures.
// SQS holds the retries: a failed delivery hides its message for the
// schedule's next wait (ChangeMessageVisibility) and is reported as a
// batch item failure; after MaxAttempts the queue's redrive policy moves
// it to a dead-letter queue. Delivery never touches a build: its record
// is final before the event is published.
package webhook
