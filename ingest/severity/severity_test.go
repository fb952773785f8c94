package severity

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
)

func TestByName(t *testing.T) {
	for name, want := range map[string]plog.SeverityNumber{
		"INFO": plog.SeverityNumberInfo, " warn ": plog.SeverityNumberWarn, "eror": plog.SeverityNumberError,
		"emerg": plog.SeverityNumberFatal3, "notice": plog.SeverityNumberInfo2,
	} {
		if got, ok := ByName(name); !ok || got != want {
			t.Errorf("ByName(%q) = %v, %v; want %v", name, got, ok, want)
		}
	}
	if got, ok := ByName("verbose"); ok || got != plog.SeverityNumberUnspecified {
		t.Errorf("ByName(verbose) = %v, %v; want unknown", got, ok)
	}
}

func TestByNumber(t *testing.T) {
	for level, want := range map[int64]plog.SeverityNumber{
		-1: plog.SeverityNumberTrace, 3: plog.SeverityNumberError, 30: plog.SeverityNumberInfo, 60: plog.SeverityNumberFatal,
	} {
		if got, ok := ByNumber(level); !ok || got != want {
			t.Errorf("ByNumber(%d) = %v, %v; want %v", level, got, ok, want)
		}
	}
	if _, ok := ByNumber(7); ok {
		t.Error("ByNumber(7) is known")
	}
}
