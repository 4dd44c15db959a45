"""Reading a document's text as a reader would: printed line ends (`lines`), sentence spans with
exact offsets (`sentences`), and Markdown/HTML markup as plain text or formatted HTML (`markup`).

Below both ingestion (the splitter cuts at sentence ends) and answers (which quote and cite
sentences), and imports neither.
"""
