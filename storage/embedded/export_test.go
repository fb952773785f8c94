package embedded

// The statement guard, for the external tests that check it against the
// engine's own lists and behaviour.
var (
	CheckStatement  = checkStatement
	CheckInsertData = checkInsertData
)
