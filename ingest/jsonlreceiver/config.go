package jsonlreceiver

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/confmap"
)

// Config is the JSON-lines log receiver's configuration: an HTTP server
// (confighttp: endpoint, TLS, auth, max_request_body_size, …) and how lines
// become log records.
type Config struct {
	ServerConfig confighttp.ServerConfig `mapstructure:",squash"`

	// Path is where newline-delimited JSON is POSTed.
	Path string `mapstructure:"path"`
	// DefaultService is the service.name of lines that name none (a
	// "service" query parameter overrides it per request).
	DefaultService string `mapstructure:"default_service"`
	// MaxLineSize bounds one line in bytes; longer lines are reported bad.
	MaxLineSize int `mapstructure:"max_line_size"`
	// MaxReportedErrors bounds the bad lines listed in a response (all are
	// counted).
	MaxReportedErrors int `mapstructure:"max_reported_errors"`
	// RetryAfter is sent with 429 when the pipeline refuses data without
	// saying how long to wait.
	RetryAfter time.Duration `mapstructure:"retry_after"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

// Validate reports settings that can never work.
func (c *Config) Validate() error {
	var errs []error
	if c.ServerConfig.NetAddr.Endpoint == "" {
		errs = append(errs, errors.New("endpoint is required (e.g. "+DefaultEndpoint+")"))
	}
	if !strings.HasPrefix(c.Path, "/") {
		errs = append(errs, fmt.Errorf("path %q must start with /", c.Path))
	}
	if c.MaxLineSize <= 0 {
		errs = append(errs, fmt.Errorf("max_line_size must be positive, got %d", c.MaxLineSize))
	}
	if c.MaxReportedErrors < 0 {
		errs = append(errs, fmt.Errorf("max_reported_errors must not be negative, got %d", c.MaxReportedErrors))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("retry_after must be at least 1s (Retry-After counts whole seconds), got %v", c.RetryAfter))
	}
	return errors.Join(errs...)
}
