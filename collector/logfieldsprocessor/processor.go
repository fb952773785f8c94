package logfieldsprocessor

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/tracehouse/tracehouse/ingest/severity"
)

// Attribute names this processor reads or writes.
const (
	// SourceAttribute holds the way a record came in: syslog, fluent, file.
	SourceAttribute = "log.source"
	// ParseErrorAttribute marks a record its receiver could not parse; it
	// holds why. The record is kept as it arrived (its raw text the body).
	ParseErrorAttribute = "log.parse_error"
)

// maxFlattenDepth bounds how deep nested maps are flattened; deeper
// levels stay JSON text under the key reached.
const maxFlattenDepth = 8

// reportEvery bounds how often bad input is logged: once per interval
// with the count since the last report and one example, never once per
// record (a flood of bad input must not become a flood of logs).
const reportEvery = 10 * time.Second

type logFields struct {
	cfg    *Config
	logger *zap.Logger
	attrs  metric.MeasurementOption

	unparsed metric.Int64Counter
	binary   metric.Int64Counter

	mu           sync.Mutex
	lastReport   time.Time
	sinceUnparse int64
	sinceBinary  int64
	// binaryFiles remembers files judged binary, until when: a binary
	// file's content comes in several batches.
	binaryFiles map[string]time.Time
}

// Judging a file binary: most of its records in a batch are binary; a
// file judged so stays binary for rememberBinary after its last binary
// batch, unless a batch brings at least textBatch records of it, all text
// (the file was replaced). Records are judged one by one too: a corrupt
// line in a text file (NUL padding after a crash) is dropped alone.
const (
	rememberBinary = time.Minute
	textBatch      = 8
	maxBinaryFiles = 1024
	filePathAttr   = "log.file.path"
)

type fileShare struct{ total, binary int }

// binaryFilesIn judges the files of ld (by log.file.path).
func (p *logFields) binaryFilesIn(ld plog.Logs) map[string]bool {
	shares := map[string]*fileShare{}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			recs := sls.At(j).LogRecords()
			for k := 0; k < recs.Len(); k++ {
				path, ok := recs.At(k).Attributes().Get(filePathAttr)
				if !ok {
					continue
				}
				sh := shares[path.AsString()]
				if sh == nil {
					sh = &fileShare{}
					shares[path.AsString()] = sh
				}
				sh.total++
				if isBinary(recs.At(k).Body()) {
					sh.binary++
				}
			}
		}
	}
	if len(shares) == 0 {
		return nil
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.binaryFiles == nil {
		p.binaryFiles = map[string]time.Time{}
	}
	out := map[string]bool{}
	for path, sh := range shares {
		until, remembered := p.binaryFiles[path]
		remembered = remembered && now.Before(until)
		binary := sh.binary*2 > sh.total || (remembered && (sh.binary > 0 || sh.total < textBatch))
		if binary {
			out[path] = true
			if len(p.binaryFiles) >= maxBinaryFiles {
				for k, u := range p.binaryFiles {
					if now.After(u) || len(p.binaryFiles) >= maxBinaryFiles {
						delete(p.binaryFiles, k)
					}
				}
			}
			p.binaryFiles[path] = now.Add(rememberBinary)
		} else if remembered {
			delete(p.binaryFiles, path)
		}
	}
	return out
}

func newProcessor(cfg *Config, set processor.Settings) (*logFields, error) {
	meter := set.MeterProvider.Meter("github.com/tracehouse/tracehouse/collector/logfieldsprocessor")
	unparsed, err := meter.Int64Counter("tracehouse.logs.unparsed_records", metric.WithUnit("{record}"),
		metric.WithDescription("Records their receiver could not parse (syslog without a valid header, …), stored as they arrived with the attribute log.parse_error."))
	if err != nil {
		return nil, err
	}
	binary, err := meter.Int64Counter("tracehouse.logs.binary_records_dropped", metric.WithUnit("{record}"),
		metric.WithDescription("Records dropped because their body was binary, not text (a binary file matched by a tailed glob)."))
	if err != nil {
		return nil, err
	}
	return &logFields{
		cfg:      cfg,
		logger:   set.Logger,
		attrs:    metric.WithAttributes(attribute.String("processor", set.ID.String())),
		unparsed: unparsed,
		binary:   binary,
	}, nil
}

// process maps every record in place, then regroups records whose
// resource gained attributes.
func (p *logFields) process(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	var unparsed, binary int64
	var unparsedExample, binaryExample string
	regroup := false
	var binaryFiles map[string]bool
	if p.cfg.DropBinary {
		binaryFiles = p.binaryFilesIn(ld)
	}
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		res := rls.At(i).Resource().Attributes()
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sls.At(j).LogRecords().RemoveIf(func(rec plog.LogRecord) bool {
				if p.cfg.DropBinary && (isBinary(rec.Body()) || inBinaryFile(rec, binaryFiles)) {
					binary++
					if binaryExample == "" {
						binaryExample = describe(rec)
					}
					return true
				}
				attrs := rec.Attributes()
				if why, ok := attrs.Get(ParseErrorAttribute); ok {
					unparsed++
					if unparsedExample == "" {
						unparsedExample = why.AsString() + ": " + excerpt(rec.Body().AsString())
					}
				}
				if p.cfg.Source != "" {
					if _, ok := attrs.Get(SourceAttribute); !ok {
						attrs.PutStr(SourceAttribute, p.cfg.Source)
					}
				}
				if p.cfg.FlattenMaps {
					flattenMaps(attrs)
				}
				if rec.SeverityNumber() == plog.SeverityNumberUnspecified {
					p.setSeverity(rec)
				}
				if !regroup && len(p.resourceAdditions(res, attrs)) > 0 {
					regroup = true
				}
				return false
			})
		}
	}
	if unparsed > 0 || binary > 0 {
		p.count(ctx, unparsed, binary, unparsedExample, binaryExample)
	}
	if regroup {
		ld = p.regroup(ld)
	}
	return ld, nil
}

func (p *logFields) setSeverity(rec plog.LogRecord) {
	for _, name := range p.cfg.SeverityFrom {
		v, ok := rec.Attributes().Get(name)
		if !ok {
			continue
		}
		if text, num, ok := severityOf(v); ok {
			rec.SetSeverityNumber(num)
			if rec.SeverityText() == "" {
				rec.SetSeverityText(text)
			}
			return
		}
	}
}

// resourceAdditions are the resource attributes a record supplies that
// its resource lacks, as key=value pairs in ResourceFrom's order.
func (p *logFields) resourceAdditions(res, attrs pcommon.Map) []kv {
	var out []kv
	for target, from := range p.cfg.ResourceFrom {
		if v, ok := res.Get(target); ok && v.AsString() != "" {
			continue
		}
		for _, name := range from {
			if v, ok := attrs.Get(name); ok {
				if s := v.AsString(); s != "" {
					out = append(out, kv{target, s})
					break
				}
			}
		}
	}
	if len(out) > 1 {
		// Map order is random; the grouping key must not be.
		sortKVs(out)
	}
	return out
}

type kv struct{ key, value string }

func sortKVs(s []kv) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].key < s[j-1].key; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

func groupKey(add []kv) string {
	var b strings.Builder
	for _, a := range add {
		b.WriteString(strconv.Quote(a.key))
		b.WriteByte('=')
		b.WriteString(strconv.Quote(a.value))
		b.WriteByte(';')
	}
	return b.String()
}

// regroup moves each record under a copy of its resource that carries
// the attributes the record supplies, keeping scopes and record order.
func (p *logFields) regroup(ld plog.Logs) plog.Logs {
	out := plog.NewLogs()
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		groups := map[string]plog.ResourceLogs{}
		for j := 0; j < rl.ScopeLogs().Len(); j++ {
			sl := rl.ScopeLogs().At(j)
			scopes := map[string]plog.ScopeLogs{}
			for k := 0; k < sl.LogRecords().Len(); k++ {
				rec := sl.LogRecords().At(k)
				add := p.resourceAdditions(rl.Resource().Attributes(), rec.Attributes())
				key := groupKey(add)
				group, ok := groups[key]
				if !ok {
					group = out.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(group.Resource())
					group.SetSchemaUrl(rl.SchemaUrl())
					for _, a := range add {
						group.Resource().Attributes().PutStr(a.key, a.value)
					}
					groups[key] = group
				}
				scope, ok := scopes[key]
				if !ok {
					scope = group.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(scope.Scope())
					scope.SetSchemaUrl(sl.SchemaUrl())
					scopes[key] = scope
				}
				rec.MoveTo(scope.LogRecords().AppendEmpty())
			}
		}
	}
	return out
}

// count records bad input in the metrics always, and in the log at most
// once per reportEvery.
func (p *logFields) count(ctx context.Context, unparsed, binary int64, unparsedExample, binaryExample string) {
	if unparsed > 0 {
		p.unparsed.Add(ctx, unparsed, p.attrs)
	}
	if binary > 0 {
		p.binary.Add(ctx, binary, p.attrs)
	}
	p.mu.Lock()
	p.sinceUnparse += unparsed
	p.sinceBinary += binary
	now := time.Now()
	if now.Sub(p.lastReport) < reportEvery {
		p.mu.Unlock()
		return
	}
	u, b := p.sinceUnparse, p.sinceBinary
	p.sinceUnparse, p.sinceBinary, p.lastReport = 0, 0, now
	p.mu.Unlock()
	if u > 0 {
		p.logger.Warn("log records that could not be parsed were stored as they arrived, marked with the attribute "+ParseErrorAttribute,
			zap.Int64("records", u), zap.String("example", unparsedExample), zap.String("source", p.cfg.Source))
	}
	if b > 0 {
		p.logger.Warn("binary log records were dropped: is a binary file matched by the tailed glob?",
			zap.Int64("records", b), zap.String("example", binaryExample), zap.String("source", p.cfg.Source))
	}
}

func inBinaryFile(rec plog.LogRecord, files map[string]bool) bool {
	if len(files) == 0 {
		return false
	}
	path, ok := rec.Attributes().Get(filePathAttr)
	return ok && files[path.AsString()]
}

func describe(rec plog.LogRecord) string {
	if path, ok := rec.Attributes().Get("log.file.path"); ok {
		return path.AsString()
	}
	if name, ok := rec.Attributes().Get("log.file.name"); ok {
		return name.AsString()
	}
	return excerpt(rec.Body().AsString())
}

func excerpt(s string) string {
	const max = 120
	if len(s) > max {
		s = s[:max] + "…"
	}
	return strconv.Quote(s)
}

// isBinary: a body with a NUL byte, or where more than a quarter of the
// characters are invalid UTF-8 (read as U+FFFD) or control characters
// other than whitespace and ESC (terminal colours), is not text.
func isBinary(body pcommon.Value) bool {
	var s string
	switch body.Type() {
	case pcommon.ValueTypeStr:
		s = body.Str()
	case pcommon.ValueTypeBytes:
		s = string(body.Bytes().AsRaw())
	default:
		return false
	}
	if strings.IndexByte(s, 0) >= 0 {
		return true
	}
	if len(s) < 8 {
		return false
	}
	var runes, bad int
	for _, r := range s {
		runes++
		switch {
		case r == utf8.RuneError:
			bad++
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r' && r != '\f' && r != '\v' && r != 0x1b:
			bad++
		case r == 0x7f:
			bad++
		}
	}
	return bad*4 > runes
}

// flattenMaps replaces each map attribute by its entries under dotted
// keys, recursively; an existing key of the same name is not overwritten.
func flattenMaps(attrs pcommon.Map) {
	var maps []string
	attrs.Range(func(k string, v pcommon.Value) bool {
		if v.Type() == pcommon.ValueTypeMap {
			maps = append(maps, k)
		}
		return true
	})
	for _, k := range maps {
		v, _ := attrs.Get(k)
		m := pcommon.NewMap()
		v.Map().MoveTo(m)
		attrs.Remove(k)
		flattenInto(attrs, k, m, 1)
	}
}

func flattenInto(dst pcommon.Map, prefix string, m pcommon.Map, depth int) {
	m.Range(func(k string, v pcommon.Value) bool {
		key := prefix + "." + k
		if _, exists := dst.Get(key); exists {
			return true
		}
		if v.Type() == pcommon.ValueTypeMap && depth < maxFlattenDepth {
			flattenInto(dst, key, v.Map(), depth+1)
			return true
		}
		v.CopyTo(dst.PutEmpty(key))
		return true
	})
}

func severityOf(v pcommon.Value) (string, plog.SeverityNumber, bool) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		text := strings.TrimSpace(v.Str())
		if num, ok := severity.ByName(text); ok {
			return text, num, true
		}
		if i, err := strconv.ParseInt(text, 10, 64); err == nil {
			if num, ok := severity.ByNumber(i); ok {
				return text, num, true
			}
		}
	case pcommon.ValueTypeInt:
		if num, ok := severity.ByNumber(v.Int()); ok {
			return strconv.FormatInt(v.Int(), 10), num, true
		}
	case pcommon.ValueTypeDouble:
		if num, ok := severity.ByNumber(int64(v.Double())); ok && float64(int64(v.Double())) == v.Double() {
			return strconv.FormatInt(int64(v.Double()), 10), num, true
		}
	}
	return "", 0, false
}
