package logfieldsprocessor

import (
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/confmap"
)

// Config says how records of one source map onto the fields the logs
// explorer and the query language filter on.
type Config struct {
	// Source is stored on every record as the attribute log.source
	// (syslog, fluent, file), unless the record already has one: it tells
	// a record's way in, so a query can leave one way out
	// (-attr.log.source:file).
	Source string `mapstructure:"source"`
	// ResourceFrom fills resource attributes from record attributes, the
	// first one present winning: {service.name: [appname]} makes a syslog
	// record's app name its service. A resource attribute already set is
	// kept. Records are regrouped under the resource they end up with.
	ResourceFrom map[string][]string `mapstructure:"resource_from"`
	// SeverityFrom names record attributes, the first one present
	// winning, whose value sets the severity of a record that has none:
	// level names (error, warn, …) as the JSON-lines receiver reads them,
	// or zerolog/pino numbers. The value is kept as the severity text.
	SeverityFrom []string `mapstructure:"severity_from"`
	// FlattenMaps turns map attributes into dotted keys
	// (kubernetes.pod_name), which attr.key:value can match; the query
	// language does not look inside a map.
	FlattenMaps bool `mapstructure:"flatten_maps"`
	// DropBinary drops, counts and reports records whose body is binary
	// (NUL bytes, or mostly bytes that are not text): a binary file
	// matched by a glob is not a log.
	DropBinary bool `mapstructure:"drop_binary"`

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
	for target, from := range c.ResourceFrom {
		if strings.TrimSpace(target) == "" {
			errs = append(errs, errors.New("resource_from: a resource attribute name is empty"))
		}
		if len(from) == 0 {
			errs = append(errs, fmt.Errorf("resource_from: %s names no record attribute to take it from", target))
		}
	}
	for _, name := range c.SeverityFrom {
		if strings.TrimSpace(name) == "" {
			errs = append(errs, errors.New("severity_from: an attribute name is empty"))
		}
	}
	return errors.Join(errs...)
}
