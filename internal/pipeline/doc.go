// Package pipeline holds the build workflow's steps: Submit (admit and
// submit), CheckStatus and Notify, and the types that pass between them.
//
// The types in state.go are the state machine's contract: the workflow state
// is one State value, written by the Lambdas and read by the Choice and
// record-write states of statemachine/build.asl.json. Expected outcomes (a
// rejected portrait, a duplicate delivery, an avatar still building) are
// values; errors are reserved for what the state machine should retry or
// record as FAILED, and their Go type names are the error names its Retry and
// Catch rules match.
package pipeline
