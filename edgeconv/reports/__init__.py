"""What the engineer reads: inspect's rows (`layers`, `inspectview`), the HTML report (`htmlreport`,
`pictures`, `quanterror`), evaluation (`evaluate`) and advice (`advise`, `variants`, `sweep`)."""
