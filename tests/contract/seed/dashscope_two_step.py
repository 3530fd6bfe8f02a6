import os
from dashscope import Generation
# Untuk menggunakan model di wilayah internasional, hapus komentar baris berikut.
# dashscope.base_http_api_url = 'https://dashscope-intl.aliyuncs.com/api/v1'
messages = [{"role": "user", "content": "Run the code interpreter twice. First, calculate the value of 123 to the power of 23. Second, divide the result by 5."}]
response = Generation.call(
api_key=os.getenv("DASHSCOPE_API_KEY"),
model="qwen3-max-2026-01-23",
messages=messages,
result_format="message",
enable_thinking=True,
enable_code_interpreter=True,
stream=True,
incremental_output=True,
)
# Bendera status: lacak apakah informasi tool sudah dicetak, apakah fase menjawab telah dimulai, dan apakah proses berada dalam segmen reasoning.
is_answering = False
in_reasoning_section = False
cur_tools = []
# Cetak bagian dengan judul.
def print_section(title):
    print(f"\n{'=' * 20}{title}{'=' * 20}")
# Cetak judul "Reasoning Process" di awal.
print_section("Reasoning Process")
in_reasoning_section = True
# Proses setiap blok data yang dikembalikan oleh model dalam aliran.
for chunk in response:
    try:
        # Ekstrak bidang kunci dari respons: konten, teks reasoning, dan informasi pemanggilan tool.
        choice = chunk.output.choices[0]
        msg = choice.message
        content = msg.get("content", "") # Konten jawaban akhir
        reasoning = msg.get("reasoning_content", "") # Teks proses reasoning
        tools = chunk.output.get("tool_info", None) # Informasi pemanggilan tool
    except (IndexError, AttributeError, KeyError):
        # Lewati blok data dengan struktur tidak normal.
        continue
    # Jika tidak ada konten valid, lewati blok saat ini.
    if not content and not reasoning and tools is None:
        continue
    # Tampilkan proses reasoning.
    if reasoning and not is_answering:
        if not in_reasoning_section:
            print_section("Reasoning Process")
            in_reasoning_section = True
        print(reasoning, end="", flush=True)
    if tools is not None and tools != cur_tools:
        print_section("Tool Information")
        print(tools)
        in_reasoning_section = False
        cur_tools = tools
    # Tampilkan konten jawaban akhir.
    if content:
        if not is_answering:
            print_section("Full Reply")
            is_answering = True
            in_reasoning_section = False
        print(content, end="", flush=True)
# Cetak jumlah pemanggilan code interpreter.
print_section("Code Interpreter Runs")
print(chunk.usage.plugins)
