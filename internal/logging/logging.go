// Package logging builds the zerolog logger every Tracehouse command uses:
// JSON on stderr by default, a console view when stderr is a terminal or
// TRACEHOUSE_LOG_FORMAT=console, level from TRACEHOUSE_LOG_LEVEL.
package logging

import (
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/rs/zerolog"
)

// New returns the process's logger; cli.Program adds the command's name
// (cmd).
func New() zerolog.Logger {
	level, err := zerolog.ParseLevel(os.Getenv("TRACEHOUSE_LOG_LEVEL"))
	if err != nil || os.Getenv("TRACEHOUSE_LOG_LEVEL") == "" {
		level = zerolog.InfoLevel
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	var logger zerolog.Logger
	format := os.Getenv("TRACEHOUSE_LOG_FORMAT")
	if format == "console" || (format == "" && isatty.IsTerminal(os.Stderr.Fd())) {
		logger = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05.000"})
	} else {
		logger = zerolog.New(os.Stderr)
	}
	return logger.Level(level).With().Timestamp().Logger()
}
