package tracestore

import "go.opentelemetry.io/collector/pdata/pcommon"

// origin is where a span or log record comes from: its resource and
// instrumentation scope, encoded once per scope and repeated on every row.
type origin struct {
	resource, resSchemaURL         string
	scope, scopeName, scopeVersion string
	scopeSchemaURL                 string
	resDropped, scopeDropped       uint32
}

// resourceOrigin encodes the resource half of an origin.
func resourceOrigin(res pcommon.Resource, schemaURL string, enc *valueEncoder) origin {
	return origin{
		resource:     enc.attributes(res.Attributes()),
		resDropped:   res.DroppedAttributesCount(),
		resSchemaURL: cleanString(schemaURL, &enc.sanitized),
	}
}

// withScope completes a resource origin with one scope.
func (o origin) withScope(scope pcommon.InstrumentationScope, schemaURL string, enc *valueEncoder) origin {
	o.scope = enc.attributes(scope.Attributes())
	o.scopeName = cleanString(scope.Name(), &enc.sanitized)
	o.scopeVersion = cleanString(scope.Version(), &enc.sanitized)
	o.scopeDropped = scope.DroppedAttributesCount()
	o.scopeSchemaURL = cleanString(schemaURL, &enc.sanitized)
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
func (c *originColumns) appendTo(cols []namedColumn, dict *strDict) []namedColumn {
	return append(cols,
		namedColumn{"ResourceAttributes", lowCardStrings{c.resource, dict}},
		namedColumn{"ResourceDroppedAttributesCount", c.resDropped},
		namedColumn{"ResourceSchemaUrl", lowCardStrings{c.resSchemaURL, dict}},
		namedColumn{"ScopeName", lowCardStrings{c.scopeName, dict}},
		namedColumn{"ScopeVersion", lowCardStrings{c.scopeVersion, dict}},
		namedColumn{"ScopeAttributes", lowCardStrings{c.scope, dict}},
		namedColumn{"ScopeDroppedAttributesCount", c.scopeDropped},
		namedColumn{"ScopeSchemaUrl", lowCardStrings{c.scopeSchemaURL, dict}},
	)
}
