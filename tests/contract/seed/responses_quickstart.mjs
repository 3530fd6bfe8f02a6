import OpenAI from "openai";
import process from 'process';
const openai = new OpenAI({
// Jika Anda belum mengonfigurasi variabel lingkungan, ganti baris berikut dengan Kunci API Model Studio Anda: apiKey: "sk-xxx",
apiKey: process.env.DASHSCOPE_API_KEY,
baseURL: process.env.SEED_BASE_URL
});
async function main() {
const response = await openai.responses.create({
model: "qwen3-max-2026-01-23",
input: "Berapa 12 pangkat 3?",
tools: [
{ type: "code_interpreter" },
{ type: "web_search" },
{ type: "web_extractor" }
],
enable_thinking: true
});
console.log("====================Response====================");
console.log(response.output_text);
// Cetak jumlah pemanggilan tool
console.log("====================Penggunaan token dan pemanggilan tool====================");
if (response.usage && response.usage.x_tools) {
console.log(`Jumlah eksekusi code interpreter: ${response.usage.x_tools.code_interpreter?.count || 0}`);
}
// Hapus komentar baris berikut untuk melihat output antara
// console.log(JSON.stringify(response.output[0], null, 2));
}
main();
