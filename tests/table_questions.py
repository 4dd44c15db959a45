"""Twenty questions over tables of public facts, and the documents that hold the tables.

The documents are written here, as HTML, DOCX and PDF files, from well-known public facts
(NASA's planetary fact sheet, the US census, the Olympic host cities, IUPAC atomic weights,
the eight-thousanders, the Apollo landings); each table sits in a little prose, as tables do.
The questions were written before any answer was measured, and are not changed to fit the
answers: tests/test_tables_eval.py and benchmarks/table_questions.py score them as they are.
Each question names the cell value that a right answer cites.
"""

from __future__ import annotations

from pathlib import Path

PLANETS = [
    ["Planet", "Diameter (km)", "Orbital period (days)"],
    ["Mercury", "4,879", "88.0"],
    ["Venus", "12,104", "224.7"],
    ["Earth", "12,756", "365.2"],
    ["Mars", "6,792", "687.0"],
    ["Jupiter", "142,984", "4,331"],
    ["Saturn", "120,536", "10,747"],
    ["Uranus", "51,118", "30,589"],
    ["Neptune", "49,528", "59,800"],
]
CENSUS = [
    ["Census year", "Resident population"],
    ["1980", "226,545,805"],
    ["1990", "248,709,873"],
    ["2000", "281,421,906"],
    ["2010", "308,745,538"],
    ["2020", "331,449,281"],
]
OLYMPICS = [
    ["Year", "Host city", "Country"],
    ["1896", "Athens", "Greece"],
    ["1900", "Paris", "France"],
    ["1904", "St. Louis", "United States"],
    ["1908", "London", "United Kingdom"],
    ["1912", "Stockholm", "Sweden"],
    ["1920", "Antwerp", "Belgium"],
    ["1924", "Paris", "France"],
    ["1928", "Amsterdam", "Netherlands"],
    ["1932", "Los Angeles", "United States"],
    ["1936", "Berlin", "Germany"],
    ["1948", "London", "United Kingdom"],
    ["1952", "Helsinki", "Finland"],
    ["1956", "Melbourne", "Australia"],
    ["1960", "Rome", "Italy"],
    ["1964", "Tokyo", "Japan"],
    ["1968", "Mexico City", "Mexico"],
    ["1972", "Munich", "West Germany"],
    ["1976", "Montreal", "Canada"],
    ["1980", "Moscow", "Soviet Union"],
    ["1984", "Los Angeles", "United States"],
    ["1988", "Seoul", "South Korea"],
    ["1992", "Barcelona", "Spain"],
    ["1996", "Atlanta", "United States"],
    ["2000", "Sydney", "Australia"],
    ["2004", "Athens", "Greece"],
    ["2008", "Beijing", "China"],
    ["2012", "London", "United Kingdom"],
    ["2016", "Rio de Janeiro", "Brazil"],
]
ELEMENTS = [
    ["Element", "Symbol", "Atomic number", "Standard atomic weight"],
    ["Hydrogen", "H", "1", "1.008"],
    ["Helium", "He", "2", "4.0026"],
    ["Carbon", "C", "6", "12.011"],
    ["Nitrogen", "N", "7", "14.007"],
    ["Oxygen", "O", "8", "15.999"],
    ["Sodium", "Na", "11", "22.990"],
    ["Iron", "Fe", "26", "55.845"],
    ["Copper", "Cu", "29", "63.546"],
    ["Silver", "Ag", "47", "107.87"],
    ["Gold", "Au", "79", "196.97"],
    ["Lead", "Pb", "82", "207.2"],
    ["Uranium", "U", "92", "238.03"],
]
MOUNTAINS = [
    ["Mountain", "Height (m)", "First ascent"],
    ["Mount Everest", "8,849", "1953"],
    ["K2", "8,611", "1954"],
    ["Kangchenjunga", "8,586", "1955"],
    ["Lhotse", "8,516", "1956"],
    ["Makalu", "8,485", "1955"],
    ["Cho Oyu", "8,188", "1954"],
    ["Dhaulagiri I", "8,167", "1960"],
    ["Manaslu", "8,163", "1956"],
    ["Nanga Parbat", "8,126", "1953"],
    ["Annapurna I", "8,091", "1950"],
]
APOLLO = [
    ["Mission", "Launch date", "Landing site"],
    ["Apollo 11", "July 16, 1969", "Sea of Tranquility"],
    ["Apollo 12", "November 14, 1969", "Ocean of Storms"],
    ["Apollo 14", "January 31, 1971", "Fra Mauro"],
    ["Apollo 15", "July 26, 1971", "Hadley-Apennine"],
    ["Apollo 16", "April 16, 1972", "Descartes Highlands"],
    ["Apollo 17", "December 7, 1972", "Taurus-Littrow"],
]

# (question, the cell value a right answer cites)
QUESTIONS: list[tuple[str, str]] = [
    ("What is the diameter of Mars?", "6,792"),
    ("How long is Neptune's orbital period in days?", "59,800"),
    ("Which planet has a diameter of 142,984 km?", "Jupiter"),
    ("What was the population of the United States in the 2000 census?", "281,421,906"),
    ("How many people lived in the United States in 1980 according to the census?", "226,545,805"),
    ("What was the resident population of the US in 2020?", "331,449,281"),
    ("Which city hosted the 1936 Summer Olympics?", "Berlin"),
    ("Where were the 1964 Summer Olympics held?", "Tokyo"),
    ("In what year did Barcelona host the Summer Olympics?", "1992"),
    ("Which city hosted the Summer Olympics in 1956?", "Melbourne"),
    ("What is the atomic number of iron?", "26"),
    ("What is the chemical symbol of silver?", "Ag"),
    ("What is the standard atomic weight of copper?", "63.546"),
    ("Which element has atomic number 79?", "Gold"),
    ("How high is K2?", "8,611"),
    ("When was Kangchenjunga first climbed?", "1955"),
    ("What is the height of Lhotse in metres?", "8,516"),
    ("Where did Apollo 15 land?", "Hadley-Apennine"),
    ("When did Apollo 14 launch?", "January 31, 1971"),
    ("Which Apollo mission landed at Taurus-Littrow?", "Apollo 17"),
]


def _html_table(rows: list[list[str]], caption: str) -> str:
    head = "".join(f"<th>{c}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in rows[1:])
    return (
        f"<table><caption>{caption}</caption><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table>"
    )


def _html(title: str, intro: str, table: str, outro: str) -> str:
    return (
        f"<html><head><title>{title}</title></head><body><h1>{title}</h1><p>{intro}</p>"
        f"{table}<p>{outro}</p></body></html>"
    )


def _docx(path: Path, title: str, intro: str, rows: list[list[str]], outro: str) -> None:
    import docx

    d = docx.Document()
    d.add_heading(title, level=1)
    d.add_paragraph(intro)
    table = d.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph(outro)
    d.save(str(path))


def _pdf(path: Path, title: str, intro: str, rows: list[list[str]], outro: str) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 14)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.multi_cell(0, 6, intro, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    with pdf.table() as table:
        for row in rows:
            cells = table.row()
            for value in row:
                cells.cell(value)
    pdf.ln(3)
    pdf.multi_cell(0, 6, outro)
    pdf.output(str(path))


def write_documents(folder: Path) -> list[Path]:
    """The six documents (two of each format) in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    planets = folder / "planets.html"
    planets.write_text(
        _html(
            "The planets of the Solar System",
            "The eight planets differ greatly in size and in how long they take to go round "
            "the Sun. The figures below are from NASA's planetary fact sheet.",
            _html_table(PLANETS, "Diameter and orbital period of each planet"),
            "The four inner planets are rocky; the four outer planets are giants of gas and ice.",
        ),
        encoding="utf-8",
    )
    census = folder / "census.html"
    census.write_text(
        _html(
            "United States census counts",
            "The United States counts its people every ten years, as its constitution "
            "requires. The resident population at each recent census was as follows.",
            _html_table(CENSUS, "Resident population of the United States by census year"),
            "The census also decides how many seats each state has in the House of "
            "Representatives.",
        ),
        encoding="utf-8",
    )
    olympics, elements = folder / "olympics.docx", folder / "elements.docx"
    _docx(
        olympics,
        "Summer Olympic Games host cities",
        "The modern Summer Olympic Games began in 1896 and have been held every four years, "
        "except during the two world wars. These cities hosted them.",
        OLYMPICS,
        "Some cities, such as London, Paris and Athens, have hosted the Games more than once.",
    )
    _docx(
        elements,
        "Some chemical elements",
        "Every element has a symbol and an atomic number, the number of protons in its "
        "nucleus; its standard atomic weight is set by IUPAC.",
        ELEMENTS,
        "Elements heavier than iron are made mostly in supernovae and neutron star mergers.",
    )
    mountains, apollo = folder / "mountains.pdf", folder / "apollo.pdf"
    _pdf(
        mountains,
        "The highest mountains on Earth",
        "Fourteen mountains rise more than 8,000 metres above sea level, all of them in the "
        "Himalaya and the Karakoram. The ten highest, with the year of their first ascent:",
        MOUNTAINS,
        "Most climbers of these peaks use supplementary oxygen above 7,000 metres.",
    )
    _pdf(
        apollo,
        "The Apollo Moon landings",
        "Between 1969 and 1972 six Apollo missions landed astronauts on the Moon; Apollo 13 "
        "was aborted on the way. Each landing mission is listed below.",
        APOLLO,
        "Twelve astronauts walked on the Moon in all.",
    )
    return [planets, census, olympics, elements, mountains, apollo]
