// Package severity maps the level names and numbers that log records carry
// (zerolog, pino, bunyan, syslog, Fluent Bit) to OTLP severity numbers. The
// JSON-lines receiver and the logfields processor read levels the same
// way, so a level filter finds a record whichever way it came in.
package severity

import (
	"strings"

	"go.opentelemetry.io/collector/pdata/plog"
)

// byName maps level names (lower case) to OTLP severity numbers, syslog's
// names and Fluent Bit's four-letter ones included.
var byName = map[string]plog.SeverityNumber{
	"trace": plog.SeverityNumberTrace, "debug": plog.SeverityNumberDebug, "dbug": plog.SeverityNumberDebug,
	"info": plog.SeverityNumberInfo, "information": plog.SeverityNumberInfo, "notice": plog.SeverityNumberInfo2,
	"warn": plog.SeverityNumberWarn, "warning": plog.SeverityNumberWarn,
	"error": plog.SeverityNumberError, "err": plog.SeverityNumberError, "eror": plog.SeverityNumberError,
	"critical": plog.SeverityNumberFatal, "crit": plog.SeverityNumberFatal, "alert": plog.SeverityNumberFatal2,
	"emerg": plog.SeverityNumberFatal3, "emergency": plog.SeverityNumberFatal3,
	"fatal": plog.SeverityNumberFatal, "panic": plog.SeverityNumberFatal4, "dpanic": plog.SeverityNumberFatal4,
}

// byNumber maps numeric levels: zerolog's -1 … 5 and pino's or bunyan's
// 10 … 60.
var byNumber = map[int64]plog.SeverityNumber{
	-1: plog.SeverityNumberTrace, 0: plog.SeverityNumberDebug, 1: plog.SeverityNumberInfo,
	2: plog.SeverityNumberWarn, 3: plog.SeverityNumberError, 4: plog.SeverityNumberFatal, 5: plog.SeverityNumberFatal4,
	10: plog.SeverityNumberTrace, 20: plog.SeverityNumberDebug, 30: plog.SeverityNumberInfo,
	40: plog.SeverityNumberWarn, 50: plog.SeverityNumberError, 60: plog.SeverityNumberFatal,
}

// ByName is the severity of a level name, in any case and with spaces
// around it; false for a name it does not know.
func ByName(name string) (plog.SeverityNumber, bool) {
	n, ok := byName[strings.ToLower(strings.TrimSpace(name))]
	return n, ok
}

// ByNumber is the severity of a numeric level; false for a number it does
// not know.
func ByNumber(level int64) (plog.SeverityNumber, bool) {
	n, ok := byNumber[level]
	return n, ok
}
