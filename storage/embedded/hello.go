package embedded

import (
	"net/http"
	"strings"

	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// helloQuery is clickhouse-go's handshake over HTTP.
const helloQuery = "SELECT displayName(), version(), revision(), timezone()"

func isHello(sql string) bool { return strings.TrimSpace(sql) == helloQuery }

// answerHello serves clickhouse-go's handshake query itself: the driver reads
// the revision from it and decodes later blocks with that layout, and the
// engine writes plain Native blocks (no block-info header), i.e. revision 0,
// while its own revision() says 54510.
func (s *Server) answerHello(w http.ResponseWriter, req *request) {
	data, err := encodeHello(s.hello)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := s.writeResult(w, req, data); err != nil {
		s.log.Debug().Err(err).Msg("hello answer not delivered")
	}
}

// helloRevision is the layout clickhouse-go decodes the hello answer with
// (the client_protocol_version it sends).
const helloRevision = 54460

// encodeHello is the hello's answer: one Native block, reporting revision 0.
func encodeHello(info serverInfo) ([]byte, error) {
	block := proto.NewBlock()
	cols := []struct {
		name, typ string
		value     any
	}{
		{"displayName()", "String", info.displayName},
		{"version()", "String", info.version},
		{"revision()", "UInt32", uint32(0)},
		{"timezone()", "String", info.timezone},
	}
	for _, c := range cols {
		if err := block.AddColumn(c.name, column.Type(c.typ)); err != nil {
			return nil, err
		}
	}
	if err := block.Append(cols[0].value, cols[1].value, cols[2].value, cols[3].value); err != nil {
		return nil, err
	}
	var buf chproto.Buffer
	if err := block.Encode(&buf, helloRevision); err != nil {
		return nil, err
	}
	return buf.Buf, nil
}
