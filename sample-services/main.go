// Command sample-services runs one of the demo shop's services, or the load
// generator that exercises them:
//
//	go run ./sample-services gateway|auth|order|payment|broker|fulfillment [flags]
//	go run ./sample-services loadgen --target http://localhost:8000 --rps 50 --duration 2m
//
// Each service is its own process and port and sends traces and logs to an
// OTLP collector (--otlp-endpoint, default 127.0.0.1:4317). `<command> -h`
// lists a command's flags and the environment variables that set them.
package main

import (
	"os"

	"github.com/rs/zerolog"

	"github.com/tracehouse/tracehouse/internal/cli"
	"github.com/tracehouse/tracehouse/sample-services/auth"
	"github.com/tracehouse/tracehouse/sample-services/broker"
	"github.com/tracehouse/tracehouse/sample-services/demo"
	"github.com/tracehouse/tracehouse/sample-services/fulfillment"
	"github.com/tracehouse/tracehouse/sample-services/gateway"
	"github.com/tracehouse/tracehouse/sample-services/loadgen"
	"github.com/tracehouse/tracehouse/sample-services/order"
	"github.com/tracehouse/tracehouse/sample-services/payment"
)

// program is the sample-services binary; a command is required. The
// services log through their own telemetry, so no logger is given.
var program = cli.Program{
	Name:     "sample-services",
	Commands: []cli.Command{gateway.Command, auth.Command, order.Command, payment.Command, broker.Command, fulfillment.Command, loadgen.Command, demo.Command},
}

func main() { os.Exit(cli.Main(program, zerolog.Nop())) }
