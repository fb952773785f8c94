package browserguardextension

import (
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// Config of the browserguard extension.
type Config struct {
	// AllowedOrigins are the origins (scheme://host[:port]) of web pages
	// that may send, e.g. a browser app instrumented with the OTel JS SDK.
	// "*" allows every origin, which turns the Origin check off.
	AllowedOrigins []string `mapstructure:"allowed_origins"`
	// CheckHost refuses requests whose Host is not an IP address,
	// localhost or one of AllowedHosts.
	CheckHost bool `mapstructure:"check_host"`
	// AllowedHosts are further host names senders may use (without port).
	AllowedHosts []string `mapstructure:"allowed_hosts"`

	// prevent unkeyed literal initialization
	_ struct{}
}

var (
	_ component.Config  = (*Config)(nil)
	_ confmap.Validator = (*Config)(nil)
)

// Validate checks that every allowed origin is an origin.
func (c *Config) Validate() error {
	for _, o := range c.AllowedOrigins {
		if o == "*" {
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return fmt.Errorf("allowed_origins: %q is not an origin (want scheme://host[:port], e.g. https://app.example.com, or *)", o)
		}
	}
	for _, h := range c.AllowedHosts {
		if h == "" || strings.ContainsAny(h, ":/ ") {
			return fmt.Errorf("allowed_hosts: %q is not a host name (no port, no scheme)", h)
		}
	}
	return nil
}
