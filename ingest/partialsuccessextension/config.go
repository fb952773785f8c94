package partialsuccessextension

import (
	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// Config of the partialsuccess extension: it has no settings.
type Config struct {
	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

// Validate accepts every Config: there is nothing to set.
func (*Config) Validate() error { return nil }
