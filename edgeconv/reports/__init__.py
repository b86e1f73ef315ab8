"""What the engineer reads: inspect's rows (`layers`, `inspectview`), the HTML report (`htmlreport`,
`pictures`; the quantization error per layer it shows is checking's `quanterror`), evaluation
(`evaluate`) and advice (`advise`, `variants`, `sweep`)."""
