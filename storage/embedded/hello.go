package embedded

import (
	chproto "github.com/ClickHouse/ch-go/proto"
	"github.com/ClickHouse/clickhouse-go/v2/lib/column"
	"github.com/ClickHouse/clickhouse-go/v2/lib/proto"
)

// helloRevision is the layout clickhouse-go decodes the hello answer with
// (the client_protocol_version it sends).
const helloRevision = 54460

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
