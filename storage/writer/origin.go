package writer

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/tracehouse/tracehouse/storage/anyvalue"
	"github.com/tracehouse/tracehouse/storage/nativeblock"
)

// origin is where a span or log record comes from: its resource and
// instrumentation scope, encoded once per scope and repeated on every row.
type origin struct {
	resource, resSchemaURL         string
	scope, scopeName, scopeVersion string
	scopeSchemaURL                 string
	resDropped, scopeDropped       uint32
}

// resourceOrigin encodes the resource half of an origin.
func resourceOrigin(res pcommon.Resource, schemaURL string, enc *anyvalue.Encoder) origin {
	return origin{
		resource:     enc.Attributes(res.Attributes()),
		resDropped:   res.DroppedAttributesCount(),
		resSchemaURL: enc.CleanString(schemaURL),
	}
}

// withScope completes a resource origin with one scope.
func (o origin) withScope(scope pcommon.InstrumentationScope, schemaURL string, enc *anyvalue.Encoder) origin {
	o.scope = enc.Attributes(scope.Attributes())
	o.scopeName = enc.CleanString(scope.Name())
	o.scopeVersion = enc.CleanString(scope.Version())
	o.scopeDropped = scope.DroppedAttributesCount()
	o.scopeSchemaURL = enc.CleanString(schemaURL)
	return o
}

// originColumns hold the resource and scope columns shared by spans and logs.
type originColumns struct {
	resource       []string // attributes JSON
	resDropped     []uint32
	resSchemaURL   []string
	scopeName      []string
	scopeVersion   []string
	scope          []string // attributes JSON
	scopeDropped   []uint32
	scopeSchemaURL []string
}

func (c *originColumns) add(o *origin) {
	c.resource = append(c.resource, o.resource)
	c.resDropped = append(c.resDropped, o.resDropped)
	c.resSchemaURL = append(c.resSchemaURL, o.resSchemaURL)
	c.scopeName = append(c.scopeName, o.scopeName)
	c.scopeVersion = append(c.scopeVersion, o.scopeVersion)
	c.scope = append(c.scope, o.scope)
	c.scopeDropped = append(c.scopeDropped, o.scopeDropped)
	c.scopeSchemaURL = append(c.scopeSchemaURL, o.scopeSchemaURL)
}

// reserve makes room for rows rows in all.
func (c *originColumns) reserve(rows int) {
	growAll(rows, &c.resource, &c.resSchemaURL, &c.scopeName, &c.scopeVersion, &c.scope, &c.scopeSchemaURL)
	growAll(rows, &c.resDropped, &c.scopeDropped)
}

// reset empties the columns, keeping their capacity and dropping the
// strings they point to.
func (c *originColumns) reset() {
	for _, s := range []*[]string{&c.resource, &c.resSchemaURL, &c.scopeName, &c.scopeVersion, &c.scope, &c.scopeSchemaURL} {
		clear(*s)
		*s = (*s)[:0]
	}
	c.resDropped = c.resDropped[:0]
	c.scopeDropped = c.scopeDropped[:0]
}

// appendTo adds the columns in schema order (after ServiceName); the
// LowCardinality ones share dict, one column after the other.
func (c *originColumns) appendTo(cols []nativeblock.Column, dict *nativeblock.StrDict) []nativeblock.Column {
	lowCard := func(vals []string) nativeblock.LowCardStrings {
		return nativeblock.LowCardStrings{Values: vals, Dict: dict}
	}
	return append(cols,
		nativeblock.Column{Name: "ResourceAttributes", Values: lowCard(c.resource)},
		nativeblock.Column{Name: "ResourceDroppedAttributesCount", Values: c.resDropped},
		nativeblock.Column{Name: "ResourceSchemaUrl", Values: lowCard(c.resSchemaURL)},
		nativeblock.Column{Name: "ScopeName", Values: lowCard(c.scopeName)},
		nativeblock.Column{Name: "ScopeVersion", Values: lowCard(c.scopeVersion)},
		nativeblock.Column{Name: "ScopeAttributes", Values: lowCard(c.scope)},
		nativeblock.Column{Name: "ScopeDroppedAttributesCount", Values: c.scopeDropped},
		nativeblock.Column{Name: "ScopeSchemaUrl", Values: lowCard(c.scopeSchemaURL)},
	)
}
