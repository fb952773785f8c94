// Package e2e holds the end-to-end tests of the sample services: all four
// run in-process on loopback ports and export to a real OTLP receiver, and
// the tests assert on the traces and logs it receives.
package e2e
